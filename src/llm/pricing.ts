import type { ModelPrice } from '../config/agents.schema.js';
import type { LlmUsage } from './llm.client.js';

/** The agents file's `pricing`: USD per million tokens, per model name. */
export type PriceTable = Readonly<Record<string, ModelPrice>>;

/**
 * The price of a model: by its exact name, else by the longest priced name it extends with "-"
 * (providers answer "gpt-4.1-mini-2025-04-14" when asked for "gpt-4.1-mini"). Never "gpt-4.1" for
 * "gpt-4.1-mini" when "gpt-4.1-mini" is priced, and never "gpt-4" for "gpt-4o".
 */
export function priceOf(model: string, prices: PriceTable): ModelPrice | undefined {
  if (Object.hasOwn(prices, model)) return prices[model];
  const base = Object.keys(prices)
    .filter((name) => model.startsWith(`${name}-`))
    .sort((a, b) => b.length - a.length)[0];
  return base === undefined ? undefined : prices[base];
}

/** Estimated USD; null when the model has no price (unpriced is not free). */
export function costOf(model: string, usage: LlmUsage, prices: PriceTable): number | null {
  const price = priceOf(model, prices);
  if (!price) return null;
  // Providers count cached tokens inside the prompt tokens; a cached count above it is bad data, not a discount.
  const cached = Math.min(Math.max(usage.cachedTokens, 0), usage.promptTokens);
  const micro =
    (usage.promptTokens - cached) * price.input +
    cached * (price.cachedInput ?? price.input) +
    usage.completionTokens * price.output;
  return micro / 1_000_000;
}
