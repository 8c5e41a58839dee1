//! Time-based one-time passwords (RFC 6238) as Stack Auth checks a second
//! factor: HMAC-SHA-1 (RFC 2104) of the 30-second step counter, truncated to
//! six digits as RFC 4226 §5.3 does.
//!
//! Only the code of the current step is accepted, with no grace step before or
//! after: Stack Auth checks with `verifyTOTP` of `@oslojs/otp`, which compares
//! against the current counter alone. Other hashes, digit counts and step
//! lengths (which authenticator apps rarely use) are left out.

use sha1::{Digest, Sha1};

/// Length of a step, in seconds.
pub const STEP_SECS: u64 = 30;

/// Digits in a code.
pub const DIGITS: usize = 6;

/// SHA-1's block size in bytes: HMAC pads its key to it.
const SHA1_BLOCK_BYTES: usize = 64;

/// HMAC-SHA-1 of `message` under `key` (RFC 2104).
fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    let mut block = [0u8; SHA1_BLOCK_BYTES];
    if key.len() > SHA1_BLOCK_BYTES {
        block[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let padded = |pad: u8| block.map(|b| b ^ pad);
    let inner = Sha1::new()
        .chain_update(padded(0x36))
        .chain_update(message)
        .finalize();
    Sha1::new()
        .chain_update(padded(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The HOTP code of `counter` (RFC 4226 §5.3): [`DIGITS`] digits, zero-padded.
fn hotp(key: &[u8], counter: u64) -> String {
    let mac = hmac_sha1(key, &counter.to_be_bytes());
    // The offset is at most 15, so the four bytes end inside the 20-byte MAC.
    let offset = usize::from(mac[19] & 0x0f);
    let word = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    let modulus = 10u32.pow(DIGITS as u32);
    format!("{:0DIGITS$}", word % modulus)
}

/// The code of the step that holds `unix_secs` (seconds since the epoch).
pub fn code_at(key: &[u8], unix_secs: u64) -> String {
    hotp(key, unix_secs / STEP_SECS)
}

/// Whether `code` is the code of the step that holds `unix_secs`. The
/// comparison takes the same time wherever the first difference is, so the
/// answer's timing tells nothing about how close a guess was.
pub fn verify(key: &[u8], code: &str, unix_secs: u64) -> bool {
    let expected = code_at(key, unix_secs);
    code.len() == expected.len()
        && code
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        let cases: [(Vec<u8>, Vec<u8>, &str); 5] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b617318655057264e28bc0b6fb378c8ef146be00",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
            ),
            (
                vec![0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "aa4ae5e15272d00e95705637ce8a3b55ed402112",
            ),
            (
                vec![0xaa; 80],
                b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"
                    .to_vec(),
                "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
            ),
        ];
        for (key, data, mac) in cases {
            assert_eq!(hex(&hmac_sha1(&key, &data)), mac, "key {}", hex(&key));
        }
    }

    /// The secret of RFC 4226 appendix D and RFC 6238 appendix B.
    const RFC_KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn hotp_matches_rfc_4226_appendix_d() {
        let codes = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in (0u64..).zip(codes) {
            assert_eq!(hotp(RFC_KEY, counter), code, "counter {counter}");
        }
    }

    #[test]
    fn totp_matches_rfc_6238_appendix_b_in_six_digits() {
        // The appendix lists eight digits; six are their last six.
        let cases = [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ];
        for (at, code) in cases {
            assert_eq!(code_at(RFC_KEY, at), code, "at {at}");
            assert!(verify(RFC_KEY, code, at), "at {at}");
        }
    }

    #[test]
    fn only_the_current_step_is_accepted() {
        let at = 1_111_111_111;
        let code = code_at(RFC_KEY, at);
        assert!(verify(RFC_KEY, &code, at - at % STEP_SECS));
        assert!(verify(RFC_KEY, &code, at - at % STEP_SECS + STEP_SECS - 1));
        assert!(!verify(RFC_KEY, &code, at - STEP_SECS));
        assert!(!verify(RFC_KEY, &code, at + STEP_SECS));
    }

    #[test]
    fn other_strings_are_refused() {
        let at = 59;
        for wrong in [
            "",
            "28708",
            "2870820",
            "287083",
            "never-valid-totp",
            " 287082",
        ] {
            assert!(!verify(RFC_KEY, wrong, at), "{wrong:?}");
        }
        assert!(!verify(b"another key", "287082", at));
    }
}
