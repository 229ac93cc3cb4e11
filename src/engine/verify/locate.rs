//! Which row a key-range bucket differs in, from its sums alone.
//!
//! Scattered changes (1% of a table's rows) leave most differing buckets
//! with one differing row. Besides its count and hash sum, a server then
//! sums each row's hash weighted by the row's place in its bucket
//! (`Σ (place + 1) · (hash >> shift)`); where one row differs, the
//! weighted sum moves by its place times its hash's move, and the place
//! falls out of a division. The key so named is only a candidate: its
//! rows are read from both ends and the bucket is taken as located only
//! when the rest of it (count and hash sum without those rows) agrees on
//! both ends, the same test that every equal bucket passes. A candidate
//! that fails sends its bucket to be listed row by row, as before; so the
//! division can be wrong, never the outcome.

use std::collections::{HashMap, HashSet};

use super::side::{Bucketing, Buckets, Hashed};

/// Per bucket, `Σ (place + 1) · (hash >> shift)` over its rows.
pub type Weighted = HashMap<u64, u128>;

/// Hash bits a weight keeps at least; below that a division names the
/// wrong place too often to pay.
const MIN_BITS: u32 = 20;

/// The shift that keeps `(place + 1) · (hash >> shift)` of a 60-bit hash
/// within 60 bits for places below `width`; `None` when too few bits of
/// the hash would be left.
pub fn shift(width: u64) -> Option<u32> {
    let s = u64::BITS - width.max(1).leading_zeros();
    (60u32.checked_sub(s)? >= MIN_BITS).then_some(s)
}

/// One end's sums of a bucket: rows, hash sum, weighted sum.
fn sums(b: &Buckets, w: &Weighted, k: u64) -> (i128, i128, i128) {
    let (c, h) = b.get(&k).copied().unwrap_or((0, 0));
    let w = w.get(&k).copied().unwrap_or(0);
    (i128::from(c), h as i128, w as i128)
}

/// The key each differing range bucket would differ in if it differed in
/// one row: the source (`a`) holds it and the target (`b`) does not, the
/// reverse, or both hold it with different hashes. Buckets no single row
/// explains are left out.
pub fn candidates(
    by: Bucketing,
    differing: &HashSet<u64>,
    (a, wa): (&Buckets, &Weighted),
    (b, wb): (&Buckets, &Weighted),
) -> HashMap<u64, i64> {
    let Bucketing::Range { lo, hi, width, n } = by else {
        return HashMap::new();
    };
    let Some(s) = shift(width) else {
        return HashMap::new();
    };
    let mut out = HashMap::new();
    for &k in differing.iter().filter(|&&k| k < n) {
        let ((ca, ha, xa), (cb, hb, xb)) = (sums(a, wa, k), sums(b, wb, k));
        if !(-1..=1).contains(&(ca - cb)) {
            continue;
        }
        let (dh, dw) = (ha - hb, xa - xb);
        // The moved hash, shifted: `dh >> s` or one more, as the low bits
        // that the shift dropped fell.
        let floor = dh.div_euclid(1 << s);
        let place = [floor, floor + 1].into_iter().find_map(|d| {
            (d != 0 && dw % d == 0)
                .then(|| dw / d)
                .filter(|p| (1..=i128::from(width)).contains(p))
        });
        let key = place.map(|p| i128::from(lo) + i128::from(k) * i128::from(width) + p - 1);
        if let Some(key) = key.filter(|&key| key <= i128::from(hi)) {
            out.insert(k, key as i64);
        }
    }
    out
}

/// Whether a bucket's candidate is the whole of its difference: without
/// the rows `ra` and `rb` read for it (every row of the key, on each end)
/// the bucket's counts and hash sums agree.
pub fn confirmed(a: &Buckets, b: &Buckets, k: u64, ra: &[&Hashed], rb: &[&Hashed]) -> bool {
    let rest = |x: &Buckets, rows: &[&Hashed]| {
        let (c, h) = x.get(&k).copied().unwrap_or((0, 0));
        let hs: u128 = rows.iter().map(|r| u128::from(r.hash)).sum();
        (c.checked_sub(rows.len() as u64), h.checked_sub(hs))
    };
    let (x, y) = (rest(a, ra), rest(b, rb));
    x.0.is_some() && x.1.is_some() && x == y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::types::Value;

    const BY: Bucketing = Bucketing::Range {
        lo: 1,
        hi: 64,
        width: 16,
        n: 4,
    };

    /// The sums of a bucket's rows `(key, hash)`, as a server computes them.
    fn bucket(rows: &[(i64, u64)]) -> (Buckets, Weighted) {
        let s = shift(16).unwrap();
        let (mut b, mut w) = (Buckets::new(), Weighted::new());
        for &(key, h) in rows {
            let k = ((key - 1) / 16) as u64;
            let e = b.entry(k).or_insert((0, 0));
            e.0 += 1;
            e.1 += u128::from(h);
            *w.entry(k).or_insert(0) += (((key - 1) % 16 + 1) as u128) * u128::from(h >> s);
        }
        (b, w)
    }

    fn hashed(key: i64, hash: u64) -> Hashed {
        Hashed {
            key: format!("{key}~;"),
            values: vec![Value::Int(key)],
            hash,
        }
    }

    /// 60-bit hashes that look like a server's.
    fn h(i: u64) -> u64 {
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 4
    }

    fn located(a: &[(i64, u64)], b: &[(i64, u64)]) -> HashMap<u64, i64> {
        let ((ba, wa), (bb, wb)) = (bucket(a), bucket(b));
        let differing = super::super::differing_buckets(&ba, &bb)
            .into_iter()
            .collect();
        candidates(BY, &differing, (&ba, &wa), (&bb, &wb))
    }

    #[test]
    fn one_changed_inserted_or_deleted_row_is_named_by_its_key() {
        let base: Vec<(i64, u64)> = (1..=64).map(|k| (k, h(k as u64))).collect();
        let mut changed = base.clone();
        changed[20].1 = h(1000); // key 21, bucket 1
        changed.retain(|r| r.0 != 40); // key 40, bucket 2
        changed.retain(|r| r.0 != 64); // key 64, bucket 3 (the last place)
        let mut target = base.clone();
        target.retain(|r| r.0 != 1); // key 1 only in the source: bucket 0
        let found = located(&changed, &target);
        let want: HashMap<u64, i64> = [(0, 1), (1, 21), (2, 40), (3, 64)].into_iter().collect();
        assert_eq!(found, want);
    }

    #[test]
    fn a_bucket_with_two_differing_rows_names_no_key_or_fails_its_check() {
        let base: Vec<(i64, u64)> = (1..=64).map(|k| (k, h(k as u64))).collect();
        let mut named = 0;
        for seed in 0..2000u64 {
            let mut changed = base.clone();
            let (x, y) = (seed % 16, (seed / 16) % 15 + 1);
            let (x, y) = (x as usize, ((x + y) % 16) as usize);
            changed[x].1 = h(10_000 + seed);
            changed[y].1 = h(20_000 + seed);
            let ((ba, wa), (bb, wb)) = (bucket(&changed), bucket(&base));
            let differing: HashSet<u64> = [0].into_iter().collect();
            let found = candidates(BY, &differing, (&ba, &wa), (&bb, &wb));
            let Some(&key) = found.get(&0) else { continue };
            named += 1;
            let ra: Vec<Hashed> = changed
                .iter()
                .filter(|r| r.0 == key)
                .map(|r| hashed(r.0, r.1))
                .collect();
            let rb: Vec<Hashed> = base
                .iter()
                .filter(|r| r.0 == key)
                .map(|r| hashed(r.0, r.1))
                .collect();
            let (ra, rb): (Vec<&Hashed>, Vec<&Hashed>) = (ra.iter().collect(), rb.iter().collect());
            assert!(
                !confirmed(&ba, &bb, 0, &ra, &rb),
                "seed {seed}: key {key} passed its check with two rows changed"
            );
        }
        // The division is exact for one row only: two never name a key here.
        assert_eq!(named, 0);
    }

    #[test]
    fn a_located_row_passes_its_check() {
        let base: Vec<(i64, u64)> = (1..=16).map(|k| (k, h(k as u64))).collect();
        let mut changed = base.clone();
        changed[7].1 = h(77);
        let ((ba, _), (bb, _)) = (bucket(&changed), bucket(&base));
        let (ra, rb) = (hashed(8, h(77)), hashed(8, h(8)));
        assert!(confirmed(&ba, &bb, 0, &[&ra], &[&rb]));
        // The wrong key's rows leave the rest of the bucket unequal.
        let (ra, rb) = (hashed(9, h(9)), hashed(9, h(9)));
        assert!(!confirmed(&ba, &bb, 0, &[&ra], &[&rb]));
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 3000,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x1dc0_ffee),
            failure_persistence: None,
            ..Default::default()
        })]

        /// Whatever the rows and up to three changes among them: a bucket
        /// that differs in one key names that key and passes its check, and
        /// a key that passes its check is the bucket's only difference.
        #[test]
        fn a_passed_check_means_the_named_key_is_the_only_difference(
            present in 0u16..,
            hashes in proptest::collection::vec(0u64..(1 << 60), 16),
            changes in proptest::collection::vec((0usize..16, 0u8..3, 0u64..(1 << 60)), 1..4),
        ) {
            let target: Vec<(i64, u64)> = (0..16)
                .filter(|i| present & (1 << i) != 0)
                .map(|i| (i as i64 + 1, hashes[i]))
                .collect();
            let mut source = target.clone();
            for &(place, kind, hash) in &changes {
                let key = place as i64 + 1;
                source.retain(|r| r.0 != key);
                if kind != 1 {
                    // An update, or an insert where the key was absent.
                    source.push((key, hash));
                }
            }
            source.sort_unstable();
            let differs: Vec<i64> = (1..=16)
                .filter(|k| {
                    let of = |rows: &[(i64, u64)]| rows.iter().find(|r| r.0 == *k).map(|r| r.1);
                    of(&source) != of(&target)
                })
                .collect();
            proptest::prop_assume!(!differs.is_empty());
            let ((ba, wa), (bb, wb)) = (bucket(&source), bucket(&target));
            let differing: HashSet<u64> = [0].into_iter().collect();
            let found = candidates(BY, &differing, (&ba, &wa), (&bb, &wb));
            let rows = |all: &[(i64, u64)], key: i64| -> Vec<Hashed> {
                all.iter().filter(|r| r.0 == key).map(|r| hashed(r.0, r.1)).collect()
            };
            let passed = found.get(&0).filter(|&&key| {
                let (ra, rb) = (rows(&source, key), rows(&target, key));
                let (ra, rb): (Vec<&Hashed>, Vec<&Hashed>) = (ra.iter().collect(), rb.iter().collect());
                confirmed(&ba, &bb, 0, &ra, &rb)
            });
            if let Some(&key) = passed {
                proptest::prop_assert_eq!(&differs, &vec![key]);
            }
            if differs.len() == 1 {
                proptest::prop_assert_eq!(passed.copied(), Some(differs[0]));
            }
        }
    }

    #[test]
    fn wide_buckets_keep_enough_hash_bits() {
        assert_eq!(shift(16), Some(5));
        assert_eq!(shift(1), Some(1));
        assert_eq!(shift(1 << 39), Some(40));
        assert_eq!(shift(1 << 40), None);
    }
}
