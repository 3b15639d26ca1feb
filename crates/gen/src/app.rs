//! One app's event stream: prepared tables, the life of one synthetic user, and the cursor that hands events to a
//! sink until the app's quota is met.
//!
//! Users are generated one at a time, each from its own random stream keyed by `(seed, project, user index)`.
//! A user's whole life (every visit, chat, generation, login and payment over the window) is built in a small
//! reused buffer, sorted by time and then handed out. So memory stays bounded whatever the event count, the
//! output does not depend on how callers chunk it, and the stream for N events is a prefix of the stream for
//! N + 1 (per app, with the same quota split).

use model::MICROS_PER_DAY;

use crate::config::{AppProfile, GenConfig};
use crate::json;
use crate::rng::{self, Rng};

/// Event names the generator emits, indexed by [`Kind`].
pub(crate) const EVENT_NAMES: [&str; 6] = [
    "$pageview",
    "chat_message",
    "$ai_generation",
    "$identify",
    "$set",
    "payment",
];

/// A borrowed view of one generated event, handed to a [`Sink`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventRef<'a> {
    pub(crate) uuid: &'a [u8; 16],
    pub(crate) distinct_id: &'a str,
    pub(crate) event: &'static str,
    pub(crate) timestamp_us: i64,
    pub(crate) properties_json: &'a str,
}

/// Where generated events go: a vector, Arrow builders or an NDJSON buffer.
pub(crate) trait Sink {
    fn push(&mut self, event: &EventRef<'_>);
}

/// An app with its tables computed once.
#[derive(Clone, Debug)]
pub(crate) struct PreparedApp {
    pub(crate) profile: AppProfile,
    pub(crate) quota: u64,
    /// Keys every random stream of this app: the config seed mixed with the project name.
    pub(crate) seed: u64,
    start_us: i64,
    days: u32,
    /// Weekday of the window's first day, Monday = 0.
    start_dow: u32,
    signup_cdf: Vec<f64>,
    /// Probability of activity on day `t` after signup, before the user's engagement and the weekday factor.
    loyal_curve: Vec<f64>,
    casual_curve: Vec<f64>,
    activity_dow: [f64; 7],
    /// Weights of the 24 UTC hours as the app's users' preferred hour.
    hour_cdf: Vec<f64>,
    model_cdf: Vec<f64>,
    plan_cdf: Vec<f64>,
    /// `https://<project>.example`.
    site: String,
}

/// One app's position in its stream.
#[derive(Debug)]
pub(crate) struct AppStream {
    pub(crate) app: PreparedApp,
    next_user: u64,
    emitted: u64,
    user: UserBuf,
    pos: usize,
    counts: [u64; EVENT_NAMES.len()],
}

/// The events of one user, built whole and then handed out in time order.
#[derive(Debug, Default)]
struct UserBuf {
    events: Vec<Pending>,
    /// Properties of all pending events, back to back.
    arena: String,
    anon_id: String,
    user_id: String,
    active_days: Vec<u32>,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    timestamp_us: i64,
    uuid: [u8; 16],
    kind: Kind,
    is_identified: bool,
    props: (u32, u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Pageview,
    ChatMessage,
    AiGeneration,
    Identify,
    Set,
    Payment,
}

impl PreparedApp {
    /// Prepares every app of a validated config, with its quota.
    /// The number in user `user_idx`'s anonymous id, `anon-<16 hex>`.
    pub(crate) fn anon_hex(&self, user_idx: u64) -> u64 {
        rng::mix(self.seed ^ ANON_KEY, user_idx)
    }

    /// The start (UTC midnight, µs) of user `user_idx`'s signup day: the first draw of the user's stream, as
    /// `generate_user` makes it.
    pub(crate) fn signup_day_start_us(&self, user_idx: u64) -> i64 {
        let mut rng = Rng::new(rng::mix(self.seed, user_idx));
        let signup_day = rng.pick(&self.signup_cdf) as i64;
        self.start_us + signup_day * 86_400_000_000
    }

    pub(crate) fn all(cfg: &GenConfig) -> Vec<PreparedApp> {
        let quotas = cfg.quotas();
        cfg.apps
            .iter()
            .zip(quotas)
            .map(|(profile, quota)| PreparedApp::new(cfg, profile, quota))
            .collect()
    }

    fn new(cfg: &GenConfig, profile: &AppProfile, quota: u64) -> PreparedApp {
        let days = cfg.days;
        let start_dow = (cfg.start_day.0 + 3).rem_euclid(7) as u32;
        let dow = |d: u32| ((start_dow + d) % 7) as usize;
        let r = &profile.retention;

        // Signups lean towards weekends and grow linearly over the window.
        let signup_dow = [0.92, 0.92, 0.92, 0.92, 0.92, 1.2, 1.2];
        let signup_cdf = rng::cumulative((0..days).map(|d| {
            (1.0 + profile.signup_growth * f64::from(d) / f64::from(days)) * signup_dow[dow(d)]
        }));
        let curve = |day1: f64, decay: f64| -> Vec<f64> {
            (0..days)
                .map(|t| {
                    if t == 0 {
                        1.0
                    } else {
                        day1 * rng::powf(f64::from(t), -decay)
                    }
                })
                .collect()
        };
        let weekday = (7.0 - 2.0 * r.weekend_factor) / 5.0;
        let mut activity_dow = [weekday; 7];
        activity_dow[5] = r.weekend_factor;
        activity_dow[6] = r.weekend_factor;

        // A typical day in local time: quiet at night, busy late morning and in the evening.
        const LOCAL_HOURS: [f64; 24] = [
            2.0, 1.0, 0.5, 0.3, 0.3, 0.5, 1.0, 2.0, 3.5, 5.0, 6.0, 6.0, 5.0, 5.0, 6.0, 6.0, 5.5,
            5.0, 5.0, 6.0, 7.5, 8.0, 6.0, 4.0,
        ];
        let offset = profile.utc_offset_hours;
        let hour_cdf = rng::cumulative(
            (0..24).map(|h: i32| LOCAL_HOURS[(h + offset).rem_euclid(24) as usize]),
        );

        PreparedApp {
            quota,
            seed: rng::mix(cfg.seed, rng::fnv1a(profile.project.as_bytes())),
            start_us: cfg.start_day.start().0,
            days,
            start_dow,
            signup_cdf,
            loyal_curve: curve(r.loyal_day1, r.loyal_decay),
            casual_curve: curve(r.casual_day1, r.casual_decay),
            activity_dow,
            hour_cdf,
            model_cdf: rng::cumulative(profile.models.iter().map(|m| m.weight)),
            plan_cdf: rng::cumulative(profile.plans.iter().map(|p| p.weight)),
            site: format!("https://{}.example", profile.project),
            profile: profile.clone(),
        }
    }

    fn day_start_us(&self, day: u32) -> i64 {
        self.start_us + i64::from(day) * MICROS_PER_DAY
    }
}

impl AppStream {
    pub(crate) fn new(app: PreparedApp) -> AppStream {
        AppStream {
            app,
            next_user: 0,
            emitted: 0,
            user: UserBuf::default(),
            pos: 0,
            counts: [0; EVENT_NAMES.len()],
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.emitted == self.app.quota
    }

    pub(crate) fn n_events(&self) -> u64 {
        self.emitted
    }

    /// Users begun so far (the last one may be cut short by the quota).
    pub(crate) fn n_users(&self) -> u64 {
        self.next_user
    }

    /// Events emitted so far, per name.
    pub(crate) fn counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        EVENT_NAMES.iter().copied().zip(self.counts.iter().copied())
    }

    /// Pushes up to `max` more events into `sink`; returns how many (0 once the quota is met).
    pub(crate) fn fill<S: Sink>(&mut self, max: usize, sink: &mut S) -> usize {
        let mut n = 0;
        while n < max && self.emitted < self.app.quota {
            if self.pos == self.user.events.len() {
                generate_user(&self.app, self.next_user, &mut self.user);
                self.next_user += 1;
                self.pos = 0;
                continue;
            }
            let left_in_quota =
                usize::try_from(self.app.quota - self.emitted).unwrap_or(usize::MAX);
            let take = (self.user.events.len() - self.pos)
                .min(max - n)
                .min(left_in_quota);
            let user = &self.user;
            for p in &user.events[self.pos..self.pos + take] {
                let distinct_id = if p.is_identified {
                    &user.user_id
                } else {
                    &user.anon_id
                };
                sink.push(&EventRef {
                    uuid: &p.uuid,
                    distinct_id,
                    event: EVENT_NAMES[p.kind as usize],
                    timestamp_us: p.timestamp_us,
                    properties_json: &user.arena[p.props.0 as usize..p.props.1 as usize],
                });
                self.counts[p.kind as usize] += 1;
            }
            self.pos += take;
            self.emitted += take as u64;
            n += take;
        }
        n
    }
}

impl EventRef<'_> {
    /// Appends the event as one NDJSON line in liucun's shape, newline included.
    pub(crate) fn push_ndjson(&self, out: &mut String) {
        out.push_str("{\"uuid\":\"");
        json::push_uuid(out, self.uuid);
        out.push_str("\",\"distinct_id\":");
        json::push_str(out, self.distinct_id);
        out.push_str(",\"event\":");
        json::push_str(out, self.event);
        out.push_str(",\"timestamp\":\"");
        json::push_timestamp(out, self.timestamp_us);
        out.push_str("\",\"properties\":");
        out.push_str(self.properties_json);
        out.push_str("}\n");
    }
}

const COUNTRIES: [(&str, f64); 8] = [
    ("CN", 0.55),
    ("SG", 0.08),
    ("HK", 0.06),
    ("TW", 0.05),
    ("US", 0.12),
    ("JP", 0.05),
    ("MY", 0.05),
    ("DE", 0.04),
];
const CHANNELS: [(&str, f64); 7] = [
    ("organic", 0.30),
    ("search", 0.18),
    ("wechat", 0.15),
    ("xiaohongshu", 0.12),
    ("douyin", 0.10),
    ("referral", 0.08),
    ("app_store", 0.07),
];
const OS: [(&str, f64); 5] = [
    ("iOS", 0.35),
    ("Android", 0.30),
    ("Windows", 0.18),
    ("Mac OS X", 0.14),
    ("Linux", 0.03),
];

/// Keys for ids derived from the user index; distinct keys keep the id families apart.
const ANON_KEY: u64 = 0xA11C_E5ED_0000_0001;
const PAYMENT_KEY: u64 = 0xA11C_E5ED_0000_0002;

/// Fixed probabilities of the user life that no profile varies.
const REFUND_MAX_DAYS: u64 = 6;
const RENEW_IF_ACTIVE: f64 = 0.92;
const AI_ERROR_RATE: f64 = 0.015;
const NEW_CONVERSATION: f64 = 0.15;

struct Paid {
    day: u32,
    time_in_day_us: i64,
    plan: usize,
    base_id: u64,
    is_refunded: bool,
}

/// The state of one user while their life is generated.
struct UserGen<'a> {
    app: &'a PreparedApp,
    rng: Rng,
    out: &'a mut UserBuf,
    is_identified: bool,
    identify_visit: Option<u32>,
    pay_visit: Option<u32>,
    visit_no: u32,
    country: &'static str,
    channel: &'static str,
    os: &'static str,
    chats_mean: f64,
    paid: Option<Paid>,
    user_idx: u64,
}

/// Builds the whole life of user `user_idx` of `app` into `out`, sorted by time.
fn generate_user(app: &PreparedApp, user_idx: u64, out: &mut UserBuf) {
    out.events.clear();
    out.arena.clear();
    out.anon_id.clear();
    out.user_id.clear();
    out.active_days.clear();
    let mut rng = Rng::new(rng::mix(app.seed, user_idx));
    let p = &app.profile;

    let signup_day = rng.pick(&app.signup_cdf) as u32;
    let is_loyal = rng.chance(p.retention.loyal_share);
    let engagement = 0.5 + rng.unit();
    let peak_hour = rng.pick(&app.hour_cdf) as f64;
    let identify_visit = rng.chance(p.identify_share).then(|| {
        if rng.chance(0.55) {
            0
        } else {
            rng.between(1, 4) as u32
        }
    });
    let pay_share = p.pay_share * if is_loyal { 3.0 } else { 0.5 };
    let pay_visit = match identify_visit {
        Some(v) if rng.chance(pay_share.min(1.0)) => Some(
            v + if rng.chance(0.6) {
                0
            } else {
                rng.between(1, 3) as u32
            },
        ),
        _ => None,
    };
    out.anon_id.push_str("anon-");
    json::push_hex64(&mut out.anon_id, app.anon_hex(user_idx));
    out.user_id.push_str("u-");
    json::push_u64(&mut out.user_id, user_idx + 1);

    let mut user = UserGen {
        app,
        country: pick_static(&mut rng, &COUNTRIES),
        channel: pick_static(&mut rng, &CHANNELS),
        os: pick_static(&mut rng, &OS),
        rng,
        out,
        is_identified: false,
        identify_visit,
        pay_visit,
        visit_no: 0,
        chats_mean: p.chats_per_visit * if is_loyal { 1.5 } else { 1.0 },
        paid: None,
        user_idx,
    };
    let curve = if is_loyal {
        &app.loyal_curve
    } else {
        &app.casual_curve
    };
    for day in signup_day..app.days {
        let t = (day - signup_day) as usize;
        if t > 0 {
            let dow = ((app.start_dow + day) % 7) as usize;
            let q = (curve[t] * engagement * app.activity_dow[dow]).min(0.97);
            if !user.rng.chance(q) {
                continue;
            }
        }
        user.out.active_days.push(day);
        let n_visits = if is_loyal && user.rng.chance(0.35) {
            user.rng.between(2, 3)
        } else {
            1
        };
        let day_start = app.day_start_us(day);
        // Visits start near the user's preferred hour; the hour wraps within the day.
        let hour = (peak_hour + 0.5 + 2.5 * user.rng.normal()).rem_euclid(24.0);
        let mut at = day_start + (hour * 3_600_000_000.0) as i64;
        for _ in 0..n_visits {
            at = user.visit(at);
            at += (user.rng.lognormal(3.0, 0.6) * 3_600_000_000.0) as i64;
            if at >= day_start + MICROS_PER_DAY {
                break;
            }
        }
    }
    user.renewals();
    user.out.events.sort_by_key(|e| e.timestamp_us);
}

fn pick_static(rng: &mut Rng, table: &[(&'static str, f64)]) -> &'static str {
    // The tables are tiny, so a linear scan over the weights beats building cumulative arrays.
    let total: f64 = table.iter().map(|&(_, w)| w).sum();
    let mut x = rng.unit() * total;
    for &(name, w) in table {
        if x < w {
            return name;
        }
        x -= w;
    }
    table[table.len() - 1].0
}

impl UserGen<'_> {
    /// Starts an event at `at`; the caller appends one JSON object to the returned arena and calls `end`.
    fn begin(&mut self, kind: Kind, at: i64) -> usize {
        let start = self.out.arena.len();
        let uuid = uuid_v7(at, &mut self.rng);
        self.out.events.push(Pending {
            timestamp_us: at,
            uuid,
            kind,
            is_identified: self.is_identified,
            props: (start as u32, 0),
        });
        start
    }

    fn end(&mut self) {
        let end = self.out.arena.len() as u32;
        self.out
            .events
            .last_mut()
            .expect("begin pushed an event")
            .props
            .1 = end;
    }

    /// One visit starting at `at`: a page view, maybe a login, chats with their generations, maybe a payment.
    /// Returns when the visit ends.
    fn visit(&mut self, mut at: i64) -> i64 {
        at += self.rng.below(1_000_000) as i64;
        let session = self.rng.next_u64();
        if self.visit_no == 0 && self.rng.chance(0.3) {
            self.set_origin(at);
            at += 1_000;
        }
        self.pageview(at, session);
        if self.identify_visit == Some(self.visit_no) {
            at += (self.rng.between(2, 40) * 1_000_000) as i64;
            self.identify(at);
        }
        let n_chats = self.rng.count(self.chats_mean, 40);
        let mut conversation = self.rng.next_u64();
        let mut index = 0u64;
        let mut history = 0u64;
        for c in 0..n_chats {
            if c > 0 && self.rng.chance(NEW_CONVERSATION) {
                conversation = self.rng.next_u64();
                index = 0;
                history = 0;
            }
            at += (self.rng.lognormal(30.0, 0.9) * 1_000_000.0) as i64;
            self.chat_message(at, session, conversation, index);
            let (done_at, tokens) = self.generation(at, session, conversation, index, history);
            at = done_at;
            history += tokens;
            index += 1;
        }
        if self.pay_visit.is_some_and(|v| self.visit_no >= v)
            && self.is_identified
            && self.paid.is_none()
        {
            at += (self.rng.between(20, 300) * 1_000_000) as i64;
            self.first_payment(at);
        }
        self.visit_no += 1;
        at
    }

    fn pageview(&mut self, at: i64, session: u64) {
        self.begin(Kind::Pageview, at);
        let site = &self.app.site;
        let a = &mut self.out.arena;
        a.push('{');
        json::push_key(a, "$current_url");
        a.push('"');
        a.push_str(site);
        a.push_str("/chat\",");
        json::push_key(a, "$pathname");
        a.push_str("\"/chat\",");
        json::push_key(a, "$session_id");
        a.push('"');
        json::push_hex64(a, session);
        a.push_str("\",");
        json::push_key(a, "$os");
        json::push_str(a, self.os);
        a.push('}');
        self.end();
    }

    /// Person properties an anonymous first visit may carry: where the user is and came from.
    fn set_origin(&mut self, at: i64) {
        self.begin(Kind::Set, at);
        let a = &mut self.out.arena;
        a.push('{');
        json::push_key(a, "$set");
        a.push('{');
        json::push_key(a, "country");
        json::push_str(a, self.country);
        a.push(',');
        json::push_key(a, "signup_channel");
        json::push_str(a, self.channel);
        a.push_str("}}");
        self.end();
    }

    /// The person property a first payment changes.
    fn set_plan(&mut self, at: i64) {
        self.begin(Kind::Set, at);
        self.out.arena.push_str("{\"$set\":{\"plan\":\"pro\"}}");
        self.end();
    }

    fn identify(&mut self, at: i64) {
        self.is_identified = true;
        self.begin(Kind::Identify, at);
        let a = &mut self.out.arena;
        a.push('{');
        json::push_key(a, "$anon_distinct_id");
        json::push_str(a, &self.out.anon_id);
        a.push(',');
        json::push_key(a, "$set");
        a.push('{');
        json::push_key(a, "plan");
        a.push_str("\"free\",");
        json::push_key(a, "country");
        json::push_str(a, self.country);
        a.push(',');
        json::push_key(a, "signup_channel");
        json::push_str(a, self.channel);
        a.push_str("}}");
        self.end();
    }

    fn chat_message(&mut self, at: i64, session: u64, conversation: u64, index: u64) {
        self.begin(Kind::ChatMessage, at);
        let site = &self.app.site;
        let a = &mut self.out.arena;
        a.push('{');
        json::push_key(a, "conversation_id");
        a.push_str("\"c-");
        json::push_hex64(a, conversation);
        a.push_str("\",");
        json::push_key(a, "message_index");
        json::push_u64(a, index);
        a.push(',');
        json::push_key(a, "$session_id");
        a.push('"');
        json::push_hex64(a, session);
        a.push_str("\",");
        json::push_key(a, "$current_url");
        a.push('"');
        a.push_str(site);
        a.push_str("/c/");
        json::push_hex64(a, conversation);
        a.push_str("\"}");
        self.end();
    }

    /// The model's answer to a chat message. Returns when it finished and the tokens it added to the conversation.
    fn generation(
        &mut self,
        at: i64,
        session: u64,
        conversation: u64,
        index: u64,
        history: u64,
    ) -> (i64, u64) {
        let app = self.app;
        let rng = &mut self.rng;
        let model = &app.profile.models[rng.pick(&app.model_cdf)];
        let mut user_tokens = rng.lognormal(45.0, 1.0) as u64 + 1;
        if rng.chance(0.04) {
            // A pasted document.
            user_tokens += rng.lognormal(5_000.0, 0.8) as u64;
        }
        let prefix = u64::from(app.profile.system_prompt_tokens) + history;
        let input = (prefix + user_tokens).min(128_000);
        let is_error = rng.chance(AI_ERROR_RATE);
        let output = if is_error {
            0
        } else {
            let median = if model.is_reasoning { 900.0 } else { 320.0 };
            (rng.lognormal(median, 0.75) as u64 + 1).min(8_192)
        };
        // Providers cache prompt prefixes in blocks; a repeated prefix of at least 1024 tokens is usually a hit.
        let cache_read =
            if !is_error && prefix >= 1_024 && rng.chance(if index > 0 { 0.85 } else { 0.5 }) {
                (prefix.min(input) / 128) * 128
            } else {
                0
            };
        let is_exclusive = model.provider == "anthropic";
        let reported_input = if is_exclusive {
            input - cache_read
        } else {
            input
        };
        let ttft_ms = rng.lognormal(600.0, 0.5);
        let stream_ms = output as f64 * 1_000.0 / model.tokens_per_sec * (0.8 + 0.4 * rng.unit());
        let latency_ms = (ttft_ms + stream_ms) as u64;
        let trace = (rng.next_u64(), rng.next_u64());
        let reasoning = if model.is_reasoning && output > 0 {
            Some(output * rng.between(40, 80) / 100)
        } else {
            None
        };
        let status = if !is_error {
            200
        } else if rng.chance(0.6) {
            429
        } else {
            500
        };
        let done = at + latency_ms as i64 * 1_000;

        self.begin(Kind::AiGeneration, done);
        let a = &mut self.out.arena;
        a.push('{');
        json::push_key(a, "$ai_trace_id");
        a.push('"');
        json::push_hex64(a, trace.0);
        json::push_hex64(a, trace.1);
        a.push_str("\",");
        json::push_key(a, "$ai_session_id");
        a.push('"');
        json::push_hex64(a, session);
        a.push_str("\",");
        json::push_key(a, "$ai_model");
        json::push_str(a, &model.model);
        a.push(',');
        json::push_key(a, "$ai_provider");
        json::push_str(a, &model.provider);
        a.push(',');
        json::push_key(a, "$ai_input_tokens");
        json::push_u64(a, reported_input);
        a.push(',');
        json::push_key(a, "$ai_output_tokens");
        json::push_u64(a, output);
        if cache_read > 0 {
            a.push(',');
            json::push_key(a, "$ai_cache_read_input_tokens");
            json::push_u64(a, cache_read);
        }
        if let Some(r) = reasoning {
            a.push(',');
            json::push_key(a, "$ai_reasoning_tokens");
            json::push_u64(a, r);
        }
        a.push(',');
        json::push_key(a, "$ai_latency");
        json::push_millis_as_secs(a, latency_ms);
        a.push(',');
        json::push_key(a, "$ai_http_status");
        json::push_u64(a, status);
        if is_error {
            a.push(',');
            json::push_key(a, "$ai_is_error");
            a.push_str("true,");
            json::push_key(a, "$ai_error");
            a.push_str(if status == 429 {
                "\"rate_limit_exceeded\""
            } else {
                "\"internal_server_error\""
            });
        }
        a.push(',');
        json::push_key(a, "conversation_id");
        a.push_str("\"c-");
        json::push_hex64(a, conversation);
        a.push_str("\"}");
        self.end();
        (done, user_tokens + output)
    }

    fn first_payment(&mut self, at: i64) {
        let app = self.app;
        let plan = self.rng.pick(&app.plan_cdf);
        let day = ((at - app.start_us).div_euclid(MICROS_PER_DAY)) as u32;
        let base_id = rng::mix(app.seed ^ PAYMENT_KEY, self.user_idx);
        self.payment(at, "new", plan, base_id, 0, None);
        self.set_plan(at + 1_000_000);
        if self.rng.chance(app.profile.refund_share) {
            let refund_day = day + self.rng.between(1, REFUND_MAX_DAYS) as u32;
            if refund_day < app.days {
                let refund_at =
                    app.day_start_us(refund_day) + self.rng.below(MICROS_PER_DAY as u64) as i64;
                self.payment(refund_at, "refund", plan, base_id, 0, Some(0));
            }
            // A refunded subscription never renews, but the user has still paid once.
            self.paid = Some(Paid {
                day,
                time_in_day_us: 0,
                plan,
                base_id,
                is_refunded: true,
            });
        } else {
            let time_in_day_us = (at - app.start_us).rem_euclid(MICROS_PER_DAY);
            self.paid = Some(Paid {
                day,
                time_in_day_us,
                plan,
                base_id,
                is_refunded: false,
            });
        }
    }

    /// Renewals every plan period while the user stayed active in the period before.
    fn renewals(&mut self) {
        let Some(paid) = self.paid.take().filter(|p| !p.is_refunded) else {
            return;
        };
        let period = self.app.profile.plans[paid.plan].period_days;
        let mut k = 1u32;
        loop {
            let day = paid.day + k * period;
            if day >= self.app.days {
                break;
            }
            let is_retained = self
                .out
                .active_days
                .iter()
                .any(|&d| d < day && d + period >= day);
            if !is_retained || !self.rng.chance(RENEW_IF_ACTIVE) {
                break;
            }
            let at = self.app.day_start_us(day)
                + paid.time_in_day_us
                + self.rng.below(600_000_000) as i64;
            self.payment(at, "renewal", paid.plan, paid.base_id, k, None);
            k += 1;
        }
    }

    /// A payment event; `refund_of` names the sequence number of the payment a refund reverses.
    fn payment(
        &mut self,
        at: i64,
        kind: &str,
        plan: usize,
        base_id: u64,
        seq: u32,
        refund_of: Option<u32>,
    ) {
        let plan = &self.app.profile.plans[plan];
        self.begin(Kind::Payment, at);
        let a = &mut self.out.arena;
        a.push('{');
        json::push_key(a, "amount");
        json::push_str(a, &plan.amount);
        a.push(',');
        json::push_key(a, "currency");
        json::push_str(a, &plan.currency);
        a.push(',');
        json::push_key(a, "kind");
        json::push_str(a, kind);
        a.push(',');
        json::push_key(a, "product");
        json::push_str(a, &plan.product);
        a.push(',');
        json::push_key(a, "external_id");
        push_payment_id(
            a,
            if refund_of.is_some() { "re_" } else { "pi_" },
            base_id,
            seq,
        );
        if let Some(original) = refund_of {
            a.push(',');
            json::push_key(a, "refund_of");
            push_payment_id(a, "pi_", base_id, original);
        }
        a.push('}');
        self.end();
    }
}

/// `"pi_<16 hex><4 hex>"`: unique per app because the base is a bijection of the user index.
fn push_payment_id(out: &mut String, prefix: &str, base: u64, seq: u32) {
    out.push('"');
    out.push_str(prefix);
    json::push_hex64(out, base);
    json::push_hex_prefix(out, u64::from(seq) << 48, 4);
    out.push('"');
}

/// A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits from the user's stream.
fn uuid_v7(timestamp_us: i64, rng: &mut Rng) -> [u8; 16] {
    let ms = (timestamp_us.max(0) / 1_000) as u64;
    let mut uuid = [0u8; 16];
    uuid[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    uuid[6..14].copy_from_slice(&rng.next_u64().to_be_bytes());
    uuid[14..].copy_from_slice(&rng.next_u64().to_be_bytes()[..2]);
    uuid[6] = 0x70 | (uuid[6] & 0x0F);
    uuid[8] = 0x80 | (uuid[8] & 0x3F);
    uuid
}
