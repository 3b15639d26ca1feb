//! What to generate: the event count, seed and calendar window ([`GenConfig`]) and one [`AppProfile`] per app,
//! with the five built-in apps that `liucun demo` charts.
//!
//! Every knob that shapes the data lives here as plain public fields, so a test or the CLI can tweak one app
//! without learning the generator's internals. [`GenConfig::validate`] checks ranges once, up front.

use std::collections::HashSet;

use model::{Day, Project};

use crate::Error;

/// What to generate. Output is a pure function of this struct (see the crate docs on stability).
#[derive(Clone, Debug, PartialEq)]
pub struct GenConfig {
    /// Total events across all apps; generation stops exactly here.
    pub events: u64,
    /// The seed; the same seed gives byte-identical output.
    pub seed: u64,
    /// The apps. Each app's share of `events` is its `share` over the sum of shares.
    pub apps: Vec<AppProfile>,
    /// The first UTC day of the window in which users sign up.
    pub start_day: Day,
    /// The window's length in days; users sign up and return only inside it.
    pub days: u32,
}

/// One synthetic AI chat app: its size, how its users come back, which models it calls and what it charges.
#[derive(Clone, Debug, PartialEq)]
pub struct AppProfile {
    /// The project name; it also names the app's output file. Must be a valid liucun project name.
    pub project: String,
    /// Relative share of all events (any non-negative scale; the shares need not sum to 1).
    pub share: f64,
    /// How likely users are to come back, day by day.
    pub retention: RetentionProfile,
    /// Mean number of chat messages per visit for a casual user (loyal users send 1.5× as many). At least 1.
    pub chats_per_visit: f64,
    /// Probability that a user logs in (`$identify`) at some point.
    pub identify_share: f64,
    /// Base probability that an identified user pays; loyal users are 3× as likely, casual ones half as likely.
    pub pay_share: f64,
    /// Probability that a first payment is refunded a few days later.
    pub refund_share: f64,
    /// The users' UTC offset in hours, which places the daily activity peak.
    pub utc_offset_hours: i32,
    /// Growth of daily signups over the window: the last day gets `1 + signup_growth` times the first day's rate.
    pub signup_growth: f64,
    /// Tokens of system prompt sent with every generation.
    pub system_prompt_tokens: u32,
    /// Models the app calls, with their shares of generations.
    pub models: Vec<ModelShare>,
    /// Paid plans, with their shares of first payments.
    pub plans: Vec<Plan>,
}

/// A two-class retention model: a loyal minority that keeps coming back and a casual majority that fades fast.
///
/// A user of class `c` who signed up on day 0 is active on day `t ≥ 1` with probability
/// `c.day1 · t^(−c.decay) · engagement · weekday`, where `engagement` is the user's own factor (uniform in
/// 0.5–1.5) and `weekday` the weekly rhythm below. Power-law decay gives the heavy tail: most users never return,
/// while loyal users fade so slowly that they carry day-30 retention.
#[derive(Clone, Debug, PartialEq)]
pub struct RetentionProfile {
    /// Share of users who are loyal.
    pub loyal_share: f64,
    /// A loyal user's probability of being active on day 1.
    pub loyal_day1: f64,
    /// Power-law exponent of a loyal user's decay (small: slow).
    pub loyal_decay: f64,
    /// A casual user's probability of being active on day 1.
    pub casual_day1: f64,
    /// Power-law exponent of a casual user's decay (around 1 or above: fast).
    pub casual_decay: f64,
    /// Activity on Saturday and Sunday relative to the weekly mean (weekdays make up the rest).
    pub weekend_factor: f64,
}

/// A model an app calls.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelShare {
    /// `$ai_model`, e.g. `gpt-4o-mini`.
    pub model: String,
    /// `$ai_provider`, e.g. `openai`. `anthropic` usage is written in exclusive form (events.md §6.1).
    pub provider: String,
    /// Relative share of generations.
    pub weight: f64,
    /// Output speed, which sets `$ai_latency`.
    pub tokens_per_sec: f64,
    /// Whether the model reports `$ai_reasoning_tokens` (and writes longer outputs).
    pub is_reasoning: bool,
}

/// A paid plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// `product` of the payment, e.g. `pro_monthly`.
    pub product: String,
    /// The price as a decimal string with two fractional digits, e.g. `"19.99"`.
    pub amount: String,
    /// ISO 4217 code, e.g. `USD` or `CNY`.
    pub currency: String,
    /// Days between renewals.
    pub period_days: u32,
    /// Relative share of first payments.
    pub weight: f64,
}

impl Default for GenConfig {
    /// 100 000 events of the five default apps over 90 days from 2025-01-01, seed 0.
    fn default() -> GenConfig {
        GenConfig::new(100_000, 0)
    }
}

impl GenConfig {
    /// `events` events of the five default apps over 90 days from 2025-01-01.
    pub fn new(events: u64, seed: u64) -> GenConfig {
        GenConfig {
            events,
            seed,
            apps: AppProfile::defaults(),
            start_day: Day::from_ymd(2025, 1, 1),
            days: 90,
        }
    }

    /// Checks every range once, so generation itself cannot fail on a bad config.
    ///
    /// # Errors
    /// The first problem found: no apps, zero days, an invalid or duplicate project name, a share or probability
    /// out of range, an empty model or plan list, or a malformed price.
    pub fn validate(&self) -> Result<(), Error> {
        if self.apps.is_empty() {
            return Err(Error::NoApps);
        }
        if self.days == 0 {
            return Err(Error::NoDays);
        }
        let mut seen = HashSet::new();
        for app in &self.apps {
            app.validate()?;
            if !seen.insert(app.project.as_str()) {
                return Err(Error::DuplicateProject(app.project.clone()));
            }
        }
        let total: f64 = self.apps.iter().map(|a| a.share).sum();
        if total <= 0.0 {
            let first = &self.apps[0];
            return Err(out_of_range(
                first,
                "share",
                first.share,
                "a positive sum over all apps",
            ));
        }
        Ok(())
    }

    /// How many events each app gets: proportional to its share, summing to exactly `events`.
    ///
    /// Rounding uses the largest-remainder method, ties going to the earlier app.
    pub fn quotas(&self) -> Vec<u64> {
        let total: f64 = self.apps.iter().map(|a| a.share).sum();
        if self.apps.is_empty() || total <= 0.0 {
            return vec![0; self.apps.len()];
        }
        let exact: Vec<f64> = self
            .apps
            .iter()
            .map(|a| a.share / total * self.events as f64)
            .collect();
        let mut quotas: Vec<u64> = exact.iter().map(|&x| x.floor() as u64).collect();
        let assigned: u64 = quotas.iter().sum();
        let mut order: Vec<usize> = (0..exact.len()).collect();
        order.sort_by(|&a, &b| {
            let (fa, fb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
            fb.total_cmp(&fa).then(a.cmp(&b))
        });
        // Float rounding can leave the floors a few events off in either direction; settle the difference one
        // event at a time so the total is exact.
        let mut left = self.events as i128 - i128::from(assigned);
        let mut i = 0;
        while left != 0 {
            let app = order[i % order.len()];
            if left > 0 {
                quotas[app] += 1;
                left -= 1;
            } else if quotas[app] > 0 {
                quotas[app] -= 1;
                left += 1;
            }
            i += 1;
        }
        quotas
    }
}

impl AppProfile {
    /// The five built-in apps, which differ visibly in size, retention, models and pricing:
    ///
    /// | project | share | day-1 / day-30 retention (about) | models | prices |
    /// |---|---|---|---|---|
    /// | `lanting` | 30% | 40% / 11% | claude-3-5-sonnet, gpt-4o-mini, gpt-4o | 19.99 USD month |
    /// | `qiuyue` | 25% | 33% / 6% | deepseek-chat, deepseek-reasoner, qwen-max | 68.00 CNY month, 588.00 CNY year |
    /// | `moxi` | 20% | 27% / 3% | gpt-4o-mini, glm-4, qwen-max | 9.99 USD month, 99.00 USD year |
    /// | `tingfeng` | 15% | 42% / 2% | glm-4, deepseek-chat | 19.99 CNY month, 49.00 CNY quarter |
    /// | `baicao` | 10% | 21% / 1% | qwen-max, deepseek-chat, gpt-4o-mini | 28.00 CNY or 4.99 USD month |
    pub fn defaults() -> Vec<AppProfile> {
        vec![
            app(
                "lanting",
                0.30,
                RetentionProfile {
                    loyal_share: 0.18,
                    loyal_day1: 0.80,
                    loyal_decay: 0.10,
                    casual_day1: 0.33,
                    casual_decay: 1.1,
                    weekend_factor: 0.8,
                },
                (3.5, 0.55, 0.12, -5, 0.6, 1400),
                &[
                    ("claude-3-5-sonnet", "anthropic", 0.45, 55.0, false),
                    ("gpt-4o-mini", "openai", 0.40, 90.0, false),
                    ("gpt-4o", "openai", 0.15, 60.0, false),
                ],
                &[("pro_monthly", "19.99", "USD", 30, 1.0)],
            ),
            app(
                "qiuyue",
                0.25,
                RetentionProfile {
                    loyal_share: 0.12,
                    loyal_day1: 0.70,
                    loyal_decay: 0.15,
                    casual_day1: 0.28,
                    casual_decay: 1.2,
                    weekend_factor: 1.1,
                },
                (3.0, 0.45, 0.09, 8, 0.9, 800),
                &[
                    ("deepseek-chat", "deepseek", 0.55, 45.0, false),
                    ("deepseek-reasoner", "deepseek", 0.15, 30.0, true),
                    ("qwen-max", "alibaba", 0.30, 40.0, false),
                ],
                &[
                    ("pro_monthly", "68.00", "CNY", 30, 0.85),
                    ("pro_yearly", "588.00", "CNY", 365, 0.15),
                ],
            ),
            app(
                "moxi",
                0.20,
                RetentionProfile {
                    loyal_share: 0.08,
                    loyal_day1: 0.65,
                    loyal_decay: 0.20,
                    casual_day1: 0.24,
                    casual_decay: 1.3,
                    weekend_factor: 0.9,
                },
                (2.5, 0.50, 0.08, 8, 0.3, 600),
                &[
                    ("gpt-4o-mini", "openai", 0.60, 90.0, false),
                    ("glm-4", "zhipu", 0.25, 50.0, false),
                    ("qwen-max", "alibaba", 0.15, 40.0, false),
                ],
                &[
                    ("pro_monthly", "9.99", "USD", 30, 0.8),
                    ("pro_yearly", "99.00", "USD", 365, 0.2),
                ],
            ),
            app(
                "tingfeng",
                0.15,
                RetentionProfile {
                    loyal_share: 0.03,
                    loyal_day1: 0.60,
                    loyal_decay: 0.30,
                    casual_day1: 0.42,
                    casual_decay: 1.0,
                    weekend_factor: 1.25,
                },
                (4.0, 0.35, 0.07, 8, 2.0, 350),
                &[
                    ("glm-4", "zhipu", 0.5, 50.0, false),
                    ("deepseek-chat", "deepseek", 0.5, 45.0, false),
                ],
                &[
                    ("pro_monthly", "19.99", "CNY", 30, 0.7),
                    ("pro_quarterly", "49.00", "CNY", 90, 0.3),
                ],
            ),
            app(
                "baicao",
                0.10,
                RetentionProfile {
                    loyal_share: 0.025,
                    loyal_day1: 0.50,
                    loyal_decay: 0.30,
                    casual_day1: 0.20,
                    casual_decay: 1.4,
                    weekend_factor: 1.0,
                },
                (2.0, 0.30, 0.06, 8, 0.0, 500),
                &[
                    ("qwen-max", "alibaba", 0.4, 40.0, false),
                    ("deepseek-chat", "deepseek", 0.4, 45.0, false),
                    ("gpt-4o-mini", "openai", 0.2, 90.0, false),
                ],
                &[
                    ("pro_monthly", "28.00", "CNY", 30, 0.7),
                    ("pro_monthly_intl", "4.99", "USD", 30, 0.3),
                ],
            ),
        ]
    }

    fn validate(&self) -> Result<(), Error> {
        Project::new(&self.project).map_err(|source| Error::InvalidProject {
            project: self.project.clone(),
            source,
        })?;
        let r = &self.retention;
        let unit = [
            ("retention.loyal_share", r.loyal_share),
            ("retention.loyal_day1", r.loyal_day1),
            ("retention.casual_day1", r.casual_day1),
            ("identify_share", self.identify_share),
            ("pay_share", self.pay_share),
            ("refund_share", self.refund_share),
        ];
        for (field, value) in unit {
            if !(0.0..=1.0).contains(&value) {
                return Err(out_of_range(self, field, value, "0..=1"));
            }
        }
        let non_negative = [
            ("share", self.share),
            ("signup_growth", self.signup_growth),
            ("retention.loyal_decay", r.loyal_decay),
            ("retention.casual_decay", r.casual_decay),
        ];
        for (field, value) in non_negative {
            if !(value.is_finite() && value >= 0.0) {
                return Err(out_of_range(self, field, value, "a finite number >= 0"));
            }
        }
        if !(0.0..=3.5).contains(&r.weekend_factor) {
            return Err(out_of_range(
                self,
                "retention.weekend_factor",
                r.weekend_factor,
                "0..=3.5",
            ));
        }
        if !(1.0..=50.0).contains(&self.chats_per_visit) {
            return Err(out_of_range(
                self,
                "chats_per_visit",
                self.chats_per_visit,
                "1..=50",
            ));
        }
        if !(-12..=14).contains(&self.utc_offset_hours) {
            let value = f64::from(self.utc_offset_hours);
            return Err(out_of_range(self, "utc_offset_hours", value, "-12..=14"));
        }
        if self.system_prompt_tokens > 32_000 {
            let value = f64::from(self.system_prompt_tokens);
            return Err(out_of_range(
                self,
                "system_prompt_tokens",
                value,
                "0..=32000",
            ));
        }
        if self.models.is_empty() {
            return Err(Error::Empty {
                project: self.project.clone(),
                field: "models",
            });
        }
        if self.plans.is_empty() {
            return Err(Error::Empty {
                project: self.project.clone(),
                field: "plans",
            });
        }
        for m in &self.models {
            if !(m.weight.is_finite() && m.weight > 0.0) {
                return Err(out_of_range(
                    self,
                    "models.weight",
                    m.weight,
                    "a finite number > 0",
                ));
            }
            if !(1.0..=10_000.0).contains(&m.tokens_per_sec) {
                return Err(out_of_range(
                    self,
                    "models.tokens_per_sec",
                    m.tokens_per_sec,
                    "1..=10000",
                ));
            }
        }
        for p in &self.plans {
            if !(p.weight.is_finite() && p.weight > 0.0) {
                return Err(out_of_range(
                    self,
                    "plans.weight",
                    p.weight,
                    "a finite number > 0",
                ));
            }
            if p.period_days == 0 {
                return Err(out_of_range(self, "plans.period_days", 0.0, "1 or more"));
            }
            let is_currency =
                p.currency.len() == 3 && p.currency.bytes().all(|b| b.is_ascii_uppercase());
            if !is_price(&p.amount) || !is_currency {
                return Err(Error::InvalidPrice {
                    project: self.project.clone(),
                    product: p.product.clone(),
                    amount: p.amount.clone(),
                    currency: p.currency.clone(),
                });
            }
        }
        Ok(())
    }
}

/// `(chats_per_visit, identify_share, pay_share, utc_offset_hours, signup_growth, system_prompt_tokens)`.
type Knobs = (f64, f64, f64, i32, f64, u32);

fn app(
    project: &str,
    share: f64,
    retention: RetentionProfile,
    knobs: Knobs,
    models: &[(&str, &str, f64, f64, bool)],
    plans: &[(&str, &str, &str, u32, f64)],
) -> AppProfile {
    let (
        chats_per_visit,
        identify_share,
        pay_share,
        utc_offset_hours,
        signup_growth,
        system_prompt_tokens,
    ) = knobs;
    AppProfile {
        project: project.to_string(),
        share,
        retention,
        chats_per_visit,
        identify_share,
        pay_share,
        refund_share: 0.04,
        utc_offset_hours,
        signup_growth,
        system_prompt_tokens,
        models: models
            .iter()
            .map(
                |&(model, provider, weight, tokens_per_sec, is_reasoning)| ModelShare {
                    model: model.to_string(),
                    provider: provider.to_string(),
                    weight,
                    tokens_per_sec,
                    is_reasoning,
                },
            )
            .collect(),
        plans: plans
            .iter()
            .map(|&(product, amount, currency, period_days, weight)| Plan {
                product: product.to_string(),
                amount: amount.to_string(),
                currency: currency.to_string(),
                period_days,
                weight,
            })
            .collect(),
    }
}

fn out_of_range(app: &AppProfile, field: &'static str, value: f64, range: &'static str) -> Error {
    Error::OutOfRange {
        project: app.project.clone(),
        field,
        value,
        range,
    }
}

/// `digits "." digit digit`, as the payment convention's decimal strings (events.md §7).
fn is_price(text: &str) -> bool {
    match text.split_once('.') {
        Some((units, cents)) => {
            !units.is_empty()
                && units.len() <= 9
                && units.bytes().all(|b| b.is_ascii_digit())
                && cents.len() == 2
                && cents.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_sum_exactly_to_the_event_count() {
        for events in [0, 1, 7, 10_000, 99_999_999, 100_000_000] {
            let cfg = GenConfig::new(events, 1);
            let q = cfg.quotas();
            assert_eq!(q.iter().sum::<u64>(), events);
        }
        assert_eq!(GenConfig::new(100, 0).quotas(), vec![30, 25, 20, 15, 10]);
        assert_eq!(GenConfig::new(3, 0).quotas(), vec![1, 1, 1, 0, 0]);
    }

    #[test]
    fn validation_names_the_bad_field() {
        assert!(GenConfig::default().validate().is_ok());
        let mut cfg = GenConfig::default();
        cfg.apps[1].retention.casual_day1 = 1.5;
        let err = cfg.validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "app \"qiuyue\": retention.casual_day1 = 1.5 is outside 0..=1"
        );
        let mut cfg = GenConfig::default();
        cfg.apps[2].project = "Moxi".into();
        assert!(matches!(cfg.validate(), Err(Error::InvalidProject { .. })));
        let mut cfg = GenConfig::default();
        cfg.apps[3].project = "lanting".into();
        assert!(matches!(cfg.validate(), Err(Error::DuplicateProject(p)) if p == "lanting"));
        let mut cfg = GenConfig::default();
        cfg.apps[0].plans[0].amount = "19.9".into();
        assert!(matches!(cfg.validate(), Err(Error::InvalidPrice { .. })));
        let cfg = GenConfig {
            apps: vec![],
            ..GenConfig::default()
        };
        assert!(matches!(cfg.validate(), Err(Error::NoApps)));
    }
}
