//! ISO 4217 currencies and their minor units (events.md §7).

/// ISO 4217 codes liucun accepts, with their minor-unit exponents.
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("LKR", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PEN", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("QAR", 2),
    ("RON", 2),
    ("RUB", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("VND", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("ZAR", 2),
];

/// The minor-unit exponent of an uppercase ISO 4217 code.
pub fn currency_exponent(code: &str) -> Option<u32> {
    CURRENCIES
        .binary_search_by(|(c, _)| (*c).cmp(code))
        .ok()
        .map(|i| CURRENCIES[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_table_is_sorted_and_covers_the_required_codes() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
        let required = "USD EUR CNY JPY KRW GBP HKD TWD SGD INR BRL CAD AUD CHF RUB MXN IDR VND THB MYR PHP TRY SEK \
                        NOK DKK PLN ZAR AED SAR KWD BHD JOD OMR TND";
        for code in required.split_whitespace() {
            assert!(currency_exponent(code).is_some(), "{code}");
        }
        assert_eq!(currency_exponent("JPY"), Some(0));
        assert_eq!(currency_exponent("KWD"), Some(3));
    }
}
