import fc from 'fast-check';
import { SlidingWindowLimiter } from './rate-limiter.js';

describe(SlidingWindowLimiter.name, () => {
  it('lets the first `perSecond` calls start at once and spaces the rest by the window', () => {
    const sut = new SlidingWindowLimiter(3, () => 0);
    expect(Array.from({ length: 7 }, () => sut.reserve())).toEqual([0, 0, 0, 1000, 1000, 1000, 2000]);
  });

  it('handles rates under one per second', () => {
    const sut = new SlidingWindowLimiter(0.5, () => 0);
    expect([sut.reserve(), sut.reserve(), sut.reserve()]).toEqual([0, 2000, 4000]);
  });

  it('never starts more than the limit in any one-second window, whatever the arrival times', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 200 }), (rate, gaps) => {
        let clock = 0;
        const sut = new SlidingWindowLimiter(rate, () => clock);
        const starts = gaps.map((gap) => {
          clock += gap;
          return clock + sut.reserve();
        });
        return starts.every((s, i) => i < rate || s - starts[i - rate] >= 1000);
      }),
    );
  });
});
