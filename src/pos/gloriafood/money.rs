//! Decimal prices → integer minor units, from the number's literal text.
//!
//! `0.1 + 0.2` is `0.30000000000000004` in binary floating point; a price
//! must never pass through `f64`. The literal is split into its digits and a
//! decimal exponent and scaled with integer arithmetic; a price with more
//! fraction digits than the currency has (after dropping trailing zeros) is
//! refused rather than rounded.

pub use crate::menu::minor_digits;

/// Most decimal digits an `i64` amount is built from (10^18 < i64::MAX).
const MAX_DIGITS: usize = 18;

/// The amount in minor units of `currency` that the JSON number `literal` names.
///
/// `7.5` in USD is `750`, `1e2` is `10000`; `7.555` in USD or `7.5` in KRW is
/// an error, as is anything that is not a plain JSON number or that does not
/// fit an `i64`. Negative amounts are returned as such (a discount option).
pub fn minor_units(literal: &str, currency: &str) -> Result<i64, String> {
    let text = literal.trim();
    let not_a_number = || format!("price {text} is not a number");
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent),
        None => (unsigned, "0"),
    };
    let exponent: i64 = exponent
        .strip_prefix('+')
        .unwrap_or(exponent)
        .parse()
        .map_err(|_| not_a_number())?;
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() => (whole, fraction),
        Some(_) => return Err(not_a_number()),
        None => (mantissa, ""),
    };
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return Err(not_a_number());
    }
    // The value is `digits × 10^-scale`.
    let joined = format!("{whole}{fraction}");
    let mut digits = joined.trim_start_matches('0');
    let mut scale = fraction.len() as i64 - exponent;
    while scale > 0 && digits.ends_with('0') {
        digits = &digits[..digits.len() - 1];
        scale -= 1;
    }
    if digits.is_empty() {
        return Ok(0);
    }
    let allowed = i64::from(minor_digits(currency));
    if scale > allowed {
        return Err(format!(
            "price {text} has {scale} fraction digits; {currency} allows {allowed}"
        ));
    }
    let shift = usize::try_from(allowed - scale).unwrap_or(usize::MAX);
    if digits.len().saturating_add(shift) > MAX_DIGITS {
        return Err(format!("price {text} is too large"));
    }
    let amount: i64 = format!("{digits}{}", "0".repeat(shift))
        .parse()
        .map_err(|_| format!("price {text} is too large"))?;
    Ok(if negative { -amount } else { amount })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_prices_become_minor_units_without_floating_point() {
        // (literal, currency, expected)
        let table: [(&str, &str, Result<i64, &str>); 24] = [
            ("7", "USD", Ok(700)),
            ("7.5", "USD", Ok(750)),
            ("7.50", "USD", Ok(750)),
            ("7.500000", "USD", Ok(750)),
            ("0.7", "USD", Ok(70)),
            ("0", "USD", Ok(0)),
            ("0.00", "USD", Ok(0)),
            ("-0", "USD", Ok(0)),
            ("0.3", "USD", Ok(30)),
            // What 0.1 + 0.2 prints as in binary floating point: not a price.
            (
                "0.30000000000000004",
                "USD",
                Err("17 fraction digits; USD allows 2"),
            ),
            ("7.555", "USD", Err("3 fraction digits; USD allows 2")),
            ("-1.5", "USD", Ok(-150)),
            ("1e2", "USD", Ok(10000)),
            ("1E+2", "USD", Ok(10000)),
            ("75e-1", "USD", Ok(750)),
            ("7.5e-3", "USD", Err("4 fraction digits; USD allows 2")),
            ("4500", "KRW", Ok(4500)),
            ("4500.0", "KRW", Ok(4500)),
            ("4500.5", "KRW", Err("1 fraction digits; KRW allows 0")),
            ("1.234", "KWD", Ok(1234)),
            ("92233720368547758.07", "USD", Err("too large")),
            ("1e300", "USD", Err("too large")),
            ("99999999999999.99", "USD", Ok(9_999_999_999_999_999)),
            ("1e99999999999999999999", "USD", Err("not a number")),
        ];
        for (literal, currency, expected) in table {
            let got = minor_units(literal, currency);
            match expected {
                Ok(amount) => assert_eq!(got, Ok(amount), "{literal} {currency}"),
                Err(part) => {
                    let message = got.expect_err(literal);
                    assert!(message.contains(part), "{literal}: {message}");
                }
            }
        }
    }

    #[test]
    fn only_plain_json_numbers_are_prices() {
        for literal in [
            "", "-", "7.", ".5", "\"7.5\"", "7,5", "1e", "0x10", "null", "+7", "7.5.1",
        ] {
            assert!(minor_units(literal, "USD").is_err(), "{literal:?}");
        }
    }

    #[test]
    fn currencies_know_their_minor_unit() {
        for (currency, digits) in [
            ("USD", 2),
            ("EUR", 2),
            ("KRW", 0),
            ("JPY", 0),
            ("KWD", 3),
            ("XYZ", 2),
        ] {
            assert_eq!(minor_digits(currency), digits, "{currency}");
        }
    }
}
