//! PostgreSQL's own text hash (`hashtextextended`, Bob Jenkins' lookup3 as
//! `hash_bytes_extended` in its `src/common/hashfn.c`), computed by DSP.
//!
//! Where one side of a comparison is hashed by DSP (SQLite) and the other
//! is a PostgreSQL server, the server hashes each row's canonical text with
//! `hashtextextended` instead of SHA-256: it skips `convert_to`, `sha256`,
//! `encode` and the bit-string cast, a third of its checksum pass (2.3 s →
//! 1.5 s over a million rows). DSP must then compute the same function;
//! `verify::side::hash_text_like_pg` first asks the server to hash a probe
//! and uses this only when the two agree (a little-endian server, a UTF-8
//! database).

/// The text the server is asked to hash before DSP relies on agreeing with
/// it: a tail that is not a whole word. ASCII, so that no database's
/// encoding can refuse it (an error would end the transaction of the
/// snapshot it is asked in); the encoding is asked about apart.
pub const PROBE: &str = "dsp ~; probe, 30 bytes long ~0";

/// What the server answers for `PROBE` when it hashes as DSP does.
pub fn probe_hash() -> i64 {
    hash_bytes_extended(PROBE.as_bytes(), 0) as i64
}

/// The 60 low bits of `hashtextextended(text COLLATE "C", 0)` for `bytes`,
/// as the server's `& (2^60 - 1)` keeps them.
pub fn text_hash60(bytes: &[u8]) -> u64 {
    hash_bytes_extended(bytes, 0) & ((1 << 60) - 1)
}

fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

fn finish(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

/// Little-endian bytes as a word, missing high bytes zero.
fn word(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .rev()
        .fold(0u32, |w, &b| (w << 8) | u32::from(b))
}

/// `hash_bytes_extended` on a little-endian machine.
fn hash_bytes_extended(k: &[u8], seed: u64) -> u64 {
    let init = 0x9e37_79b9u32
        .wrapping_add(k.len() as u32)
        .wrapping_add(3_923_095);
    let (mut a, mut b, mut c) = (init, init, init);
    if seed != 0 {
        a = a.wrapping_add((seed >> 32) as u32);
        b = b.wrapping_add(seed as u32);
        mix(&mut a, &mut b, &mut c);
    }
    let mut rest = k;
    while rest.len() >= 12 {
        a = a.wrapping_add(word(&rest[0..4]));
        b = b.wrapping_add(word(&rest[4..8]));
        c = c.wrapping_add(word(&rest[8..12]));
        mix(&mut a, &mut b, &mut c);
        rest = &rest[12..];
    }
    // The last 11 bytes: the lowest byte of `c` is left for the length.
    let n = rest.len();
    a = a.wrapping_add(word(&rest[..n.min(4)]));
    if n > 4 {
        b = b.wrapping_add(word(&rest[4..n.min(8)]));
    }
    if n > 8 {
        c = c.wrapping_add(word(&rest[8..n]) << 8);
    }
    finish(&mut a, &mut b, &mut c);
    (u64::from(b) << 32) | u64::from(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `SELECT n, hashtextextended(left('abc…789', n) COLLATE "C", 0)` on
    /// PostgreSQL 15: every length up to three 12-byte blocks and a tail.
    const SERVER: [i64; 37] = [
        -6939563903564495251,
        3591986179850072241,
        2833316173711343549,
        -6747756470228489321,
        -1038429303365892052,
        3076356108696143428,
        290958262752763840,
        -6158032784613548338,
        -8882191227074733005,
        -3278210106038014113,
        -3183301415634409076,
        3112909444737856467,
        -7556637188122330412,
        8871624171452417744,
        4973135103275945525,
        9043359162837317271,
        878954068520307163,
        981995727863167554,
        484589330715449564,
        -232611774418841497,
        772495730612720881,
        7996419909667933074,
        5065299895581918398,
        -1198571854151947912,
        -1933194731779935345,
        5649064133428767341,
        -6612928417832572997,
        -2380771206696995028,
        6812267027916543695,
        945567879077619982,
        -6220525620039254070,
        2158826814634153154,
        3549018472450668904,
        5090768811159989509,
        8980361962424279172,
        -7327977299585643623,
        -9049552497159076100,
    ];

    #[test]
    fn equals_postgresql_for_every_tail_length() {
        let text = b"abcdefghijklmnopqrstuvwxyz0123456789";
        for (n, want) in SERVER.iter().enumerate() {
            assert_eq!(
                hash_bytes_extended(&text[..n], 0) as i64,
                *want,
                "length {n}"
            );
        }
    }

    #[test]
    fn the_probe_is_ascii_and_no_whole_number_of_words() {
        assert!(PROBE.is_ascii() && !PROBE.contains('\''));
        assert_ne!(PROBE.len() % 4, 0);
        // `SELECT hashtextextended('dsp ~; probe, 30 bytes long ~0' COLLATE "C", 0)`
        assert_eq!(probe_hash(), 3201828561673745568);
    }

    #[test]
    fn equals_postgresql_for_utf8_and_a_seed() {
        let probe = "dsp é 日本 😀 ~; probe";
        assert_eq!(probe.len(), 27);
        assert_eq!(
            hash_bytes_extended(probe.as_bytes(), 0) as i64,
            -1214230810008452960
        );
        assert_eq!(hash_bytes_extended(b"x", 1) as i64, -504344683840945215);
        assert_eq!(
            text_hash60(probe.as_bytes()),
            (-1214230810008452960i64 as u64) & ((1 << 60) - 1)
        );
    }
}
