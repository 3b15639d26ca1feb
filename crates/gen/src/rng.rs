//! Pseudo-random numbers and float helpers whose results are fixed forever.
//!
//! The generator promises that a `(config, seed)` pair always produces the same bytes, on every platform and with
//! every Rust release. So nothing here comes from a crate or from the platform's libm: the generator is
//! xoshiro256** seeded through SplitMix64 (both public-domain algorithms by Blackman and Vigna), and `exp`/`ln` are
//! written out with `+ - * /` only. IEEE 754 rounds those operations exactly, and Rust never fuses them into FMAs on
//! its own, so their results cannot drift the way `f64::exp` from a system libm can.

/// One step of SplitMix64: advances `state` and returns the next output.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mixes a key and a value into a well-spread 64-bit number.
///
/// For a fixed `key` this is a bijection of `value`, so ids derived from distinct values never collide.
pub(crate) fn mix(key: u64, value: u64) -> u64 {
    let mut state = key ^ value;
    splitmix64(&mut state)
}

/// FNV-1a over bytes; used to key an app's random streams by its project name rather than its position.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// xoshiro256**: small, fast and good enough for synthetic data.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose state is expanded from `seed` with SplitMix64, as the xoshiro authors recommend.
    pub(crate) fn new(seed: u64) -> Rng {
        let mut sm = seed;
        Rng {
            s: [
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
            ],
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`, with 53 random bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-40 for our `n`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        lo + self.below(hi - lo + 1)
    }

    /// An approximately standard normal number: the Irwin–Hall sum of four uniforms, rescaled.
    ///
    /// Its tails stop at ±3.46, which keeps token counts and delays free of absurd outliers.
    pub(crate) fn normal(&mut self) -> f64 {
        let a = self.next_u64();
        let b = self.next_u64();
        let scale = 1.0 / (1u64 << 32) as f64;
        let sum = ((a >> 32) as f64
            + (a & 0xFFFF_FFFF) as f64
            + (b >> 32) as f64
            + (b & 0xFFFF_FFFF) as f64)
            * scale;
        (sum - 2.0) * SQRT_3
    }

    /// A lognormal number with the given median and log-space spread.
    pub(crate) fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * exp(sigma * self.normal())
    }

    /// 1 plus a geometric number of extra trials, so the mean is `mean` (≥ 1), capped at `cap`.
    pub(crate) fn count(&mut self, mean: f64, cap: u32) -> u32 {
        let more = 1.0 - 1.0 / mean.max(1.0);
        let mut n = 1;
        while n < cap && self.chance(more) {
            n += 1;
        }
        n
    }

    /// An index drawn from a cumulative weight table (last entry = total weight).
    pub(crate) fn pick(&mut self, cumulative: &[f64]) -> usize {
        let total = *cumulative.last().expect("weight tables are never empty");
        let x = self.unit() * total;
        cumulative
            .partition_point(|&c| c <= x)
            .min(cumulative.len() - 1)
    }
}

const SQRT_3: f64 = 1.732_050_807_568_877_2;
/// `1/1, 1/2, …, 1/13`; multiplying by these is much cheaper than dividing, and 13 terms of the Taylor series
/// reach full precision for `|r| ≤ ln2/2`.
const INV_1_TO_13: [f64; 13] = [
    1.0,
    1.0 / 2.0,
    1.0 / 3.0,
    1.0 / 4.0,
    1.0 / 5.0,
    1.0 / 6.0,
    1.0 / 7.0,
    1.0 / 8.0,
    1.0 / 9.0,
    1.0 / 10.0,
    1.0 / 11.0,
    1.0 / 12.0,
    1.0 / 13.0,
];
/// ln 2 split as in fdlibm: the high part has trailing zero bits, so `k · LN2_HI` is exact.
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);

/// `e^x`, computed with basic arithmetic only (see the module docs).
pub(crate) fn exp(x: f64) -> f64 {
    if x < -700.0 {
        return 0.0;
    }
    if x > 700.0 {
        return f64::INFINITY;
    }
    // x = k·ln2 + r with |r| ≤ ln2/2; e^r by its Taylor series in Horner form, then scale by 2^k exactly.
    let k = (x * std::f64::consts::LOG2_E).round();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0;
    for inv in INV_1_TO_13.iter().rev() {
        p = 1.0 + p * r * inv;
    }
    let scale = f64::from_bits(((k as i64 + 1023) as u64) << 52);
    p * scale
}

/// Natural logarithm of a positive normal number, computed with basic arithmetic only.
pub(crate) fn ln(x: f64) -> f64 {
    debug_assert!(x.is_normal() && x > 0.0, "ln of {x}");
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7FF) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln m = 2·atanh(s) with s = (m-1)/(m+1), |s| ≤ 0.172.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut sum = 0.0;
    for i in (0..16).rev() {
        sum = sum * s2 + 1.0 / f64::from(2 * i + 1);
    }
    2.0 * s * sum + (e as f64) * std::f64::consts::LN_2
}

/// `x^y` for positive `x`.
pub(crate) fn powf(x: f64, y: f64) -> f64 {
    exp(y * ln(x))
}

/// Cumulative sums of `weights`, for [`Rng::pick`].
pub(crate) fn cumulative(weights: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    weights
        .into_iter()
        .map(|w| {
            acc += w;
            acc
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_ln_agree_with_std() {
        let mut x = -30.0;
        while x < 30.0 {
            let (ours, std) = (exp(x), x.exp());
            assert!(
                ((ours - std) / std).abs() < 1e-14,
                "exp({x}): {ours} vs {std}"
            );
            x += 0.0137;
        }
        let mut x = 1e-6;
        while x < 1e6 {
            let (ours, std) = (ln(x), x.ln());
            assert!(
                (ours - std).abs() < 1e-14 * std.abs().max(1.0),
                "ln({x}): {ours} vs {std}"
            );
            x *= 1.0173;
        }
        assert!((powf(30.0, -1.1) - 30f64.powf(-1.1)).abs() < 1e-15);
    }

    #[test]
    fn the_stream_for_a_seed_is_pinned() {
        // These constants pin the algorithm: if they change, every seeded file changes too.
        let mut rng = Rng::new(42);
        let got: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(got, PINNED_42);
        assert_eq!(mix(1, 2), mix(1, 2));
        assert_ne!(mix(1, 2), mix(1, 3));
    }

    const PINNED_42: [u64; 3] = [
        1_546_998_764_402_558_742,
        6_990_951_692_964_543_102,
        12_544_586_762_248_559_009,
    ];

    #[test]
    fn helpers_stay_in_range() {
        let mut rng = Rng::new(7);
        let mut sum = 0.0;
        for _ in 0..100_000 {
            let z = rng.normal();
            assert!(z.abs() <= 3.47);
            sum += z;
            assert!(rng.below(10) < 10);
            assert!((3..=5).contains(&rng.between(3, 5)));
            let c = rng.count(3.0, 10);
            assert!((1..=10).contains(&c));
        }
        assert!((sum / 100_000.0).abs() < 0.02);
        let table = cumulative([1.0, 0.0, 3.0]);
        let mut hits = [0u32; 3];
        for _ in 0..40_000 {
            hits[rng.pick(&table)] += 1;
        }
        assert_eq!(hits[1], 0);
        assert!((hits[2] as f64 / 40_000.0 - 0.75).abs() < 0.02, "{hits:?}");
    }
}
