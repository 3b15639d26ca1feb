//! Payment events (events.md §7): amounts in major units become integers in the currency's minor units.

use serde_json::{Map, Value};

use model::{Payment, PaymentKind, RejectReason};

use crate::decimal::{Decimal, ScaleError};
use crate::validate::{Reject, show};

pub(crate) use model::currency_exponent as exponent;

/// Reads the payment of a `payment` event from its final properties.
pub(crate) fn parse(props: &Map<String, Value>) -> Result<Payment, Reject> {
    let currency = match props.get("currency") {
        None | Some(Value::Null) => return Err(bad("`currency` is missing".to_string())),
        Some(Value::String(s)) => s.to_ascii_uppercase(),
        Some(other) => {
            return Err(bad(format!(
                "`currency` {} is not an ISO 4217 code",
                show(other)
            )));
        }
    };
    let Some(exp) = exponent(&currency) else {
        return Err(bad(format!(
            "`currency` {} is not a known ISO 4217 code",
            show(&props["currency"])
        )));
    };
    let amount_minor = match props.get("amount") {
        None | Some(Value::Null) => return Err(bad("`amount` is missing".to_string())),
        Some(v) => minor(v, "amount", &currency, exp)?,
    };
    let kind = match props.get("kind") {
        None | Some(Value::Null) => PaymentKind::OneTime,
        Some(v) => v.as_str().and_then(PaymentKind::parse).ok_or_else(|| {
            bad(format!(
                "`kind` {} is not one of new, renewal, one_time, usage, refund, chargeback",
                show(v)
            ))
        })?,
    };
    let tax_minor = optional_minor(props, "tax", &currency, exp)?;
    if tax_minor > amount_minor {
        return Err(bad(format!(
            "`tax` {} is greater than `amount` {}",
            show(&props["tax"]),
            show(&props["amount"])
        )));
    }
    let fee_minor = optional_minor(props, "fee", &currency, exp)?;
    Ok(Payment {
        amount_minor,
        currency,
        kind,
        tax_minor,
        fee_minor,
        product: text(props, "product")?,
        external_id: text(props, "external_id")?,
    })
}

fn optional_minor(
    props: &Map<String, Value>,
    field: &str,
    currency: &str,
    exp: u32,
) -> Result<i64, Reject> {
    match props.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => minor(v, field, currency, exp),
    }
}

/// A non-negative decimal (string or number text) in minor units.
fn minor(v: &Value, field: &str, currency: &str, exp: u32) -> Result<i64, Reject> {
    let text = match v {
        Value::String(s) => s.as_str(),
        Value::Number(n) => n.as_str(),
        _ => {
            return Err(bad(format!(
                "`{field}` {} is not a decimal amount",
                show(v)
            )));
        }
    };
    let Some(d) = Decimal::parse(text) else {
        return Err(bad(format!(
            "`{field}` {} is not a decimal amount",
            show(v)
        )));
    };
    if d.neg && d.digits != 0 {
        return Err(bad(format!("`{field}` {} is negative", show(v))));
    }
    d.to_scaled(exp).map_err(|e| match e {
        ScaleError::TooPrecise => bad(format!(
            "`{field}` {} has more than {exp} fraction digits, the limit for {currency}",
            show(v)
        )),
        ScaleError::Overflow => bad(format!("`{field}` {} is too large", show(v))),
    })
}

fn text(props: &Map<String, Value>, field: &str) -> Result<Option<String>, Reject> {
    match props.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.as_str().to_string())),
        Some(other) => Err(bad(format!("`{field}` {} must be a string", show(other)))),
    }
}

fn bad(detail: String) -> Reject {
    Reject::new(RejectReason::InvalidPayment, detail)
}
