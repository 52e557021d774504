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

export const RedactionSchema = z
  .object({
    detect: z.array(z.enum(BUILTIN_DETECTORS)).default(DEFAULT_DETECTORS),
    custom: z.array(CustomDetectorSchema).default([]),
  })
  .strict();
export type RedactionConfig = z.infer<typeof RedactionSchema>;
export const DEFAULT_REDACTION: RedactionConfig = { detect: DEFAULT_DETECTORS, custom: [] };
