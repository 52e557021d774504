import type { TranscriptEntry } from './decision.js';
import { planFold } from './memory.js';

const messages = (n: number): TranscriptEntry[] =>
  Array.from({ length: n }, (_, i) => ({ direction: i % 2 ? 'outbound' : 'inbound', text: `m${i}`, payload: null }));

describe(planFold.name, () => {
  it('folds nothing while the transcript fits the window', () => {
    expect(planFold(messages(12), 12).fold).toHaveLength(0);
  });

  it('folds down to half the window once it overflows, keeping the newest', () => {
    const sut = planFold(messages(13), 12);
    expect(sut.fold.map((m) => m.text)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    expect(sut.keep.map((m) => m.text)).toEqual(['m7', 'm8', 'm9', 'm10', 'm11', 'm12']);
  });
});
