// A seeded PRNG (mulberry32) for the differential tests, so any failing case
// can be replayed from its seed.
'use strict';
module.exports = function prng(seed) {
  let s = seed | 0;
  const rnd = () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { rnd, pick: (n) => Math.floor(rnd() * n) };
};
