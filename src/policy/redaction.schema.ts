import { z } from 'zod';

export const BUILTIN_DETECTORS = ['email', 'phone', 'card', 'iban'] as const;
export type BuiltinDetector = (typeof BUILTIN_DETECTORS)[number];

/** Payment cards and IBANs are redacted unless an agent says otherwise; the rest are opt-in. */
export const DEFAULT_DETECTORS: BuiltinDetector[] = ['card', 'iban'];

const CustomDetectorSchema = z
  .object({
    /** The placeholder's label: `ORDER_REF` gives `[ORDER_REF_1]`. */
    name: z.string().regex(/^[A-Z][A-Z0-9_]{0,31}$/, 'must be 1 to 32 of A-Z, 0-9 and _, starting with a letter'),
    pattern: z.string().min(1).refine((p) => {
      try {
        new RegExp(p, 'gu');
        return true;
      } catch {
        return false;
      }
    }, 'is not a valid regular expression'),
  })
  .strict();

/** The built-in detectors' labels: a custom name may not take one (a custom `CARD` would be masked as a card, and shadow it). */
export const BUILTIN_LABELS = ['EMAIL', 'PHONE', 'CARD', 'IBAN'] as const;

export const RedactionSchema = z
  .object({
    detect: z.array(z.enum(BUILTIN_DETECTORS)).default(DEFAULT_DETECTORS),
    custom: z
      .array(CustomDetectorSchema)
      .default([])
      .superRefine((custom, ctx) => {
        const seen = new Set<string>();
        custom.forEach((c, i) => {
          if ((BUILTIN_LABELS as readonly string[]).includes(c.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `${c.name} is a built-in detector's label; name yours otherwise` });
          else if (seen.has(c.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `${c.name} is used twice` });
          seen.add(c.name);
        });
      }),
  })
  .strict();
export type RedactionConfig = z.infer<typeof RedactionSchema>;
export const DEFAULT_REDACTION: RedactionConfig = { detect: DEFAULT_DETECTORS, custom: [] };
