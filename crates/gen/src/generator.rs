//! The pull interface: [`Generator`] hands out chunks of [`GenEvent`]s, one app at a time, for callers that feed
//! events straight into an engine (`liucun demo`, tests) instead of writing files.

use crate::app::{AppStream, EventRef, PreparedApp, Sink};
use crate::{Error, GenConfig, json};

/// A generated event in liucun's plain shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenEvent {
    /// A UUIDv7 whose time part is the event's millisecond.
    pub uuid: [u8; 16],
    /// `anon-<16 hex>` before the user logs in, `u-<n>` from their `$identify` on.
    pub distinct_id: String,
    /// `$pageview`, `chat_message`, `$ai_generation`, `$identify`, `$set` or `payment`.
    pub event: &'static str,
    /// Microseconds since the Unix epoch, UTC.
    pub timestamp_us: i64,
    /// The properties as a JSON object.
    pub properties_json: String,
}

/// Pulls events of every app in turn, in fixed-size chunks.
#[derive(Debug)]
pub struct Generator {
    streams: Vec<AppStream>,
    cursor: usize,
}

impl GenEvent {
    /// The uuid as lowercase hyphenated hex.
    pub fn uuid_string(&self) -> String {
        let mut out = String::with_capacity(36);
        json::push_uuid(&mut out, &self.uuid);
        out
    }

    /// Appends the event as one NDJSON line (newline included), exactly as [`write_files`](crate::write_files)
    /// writes it: `uuid`, `distinct_id`, `event`, `timestamp` (RFC 3339, µs, `Z`) and `properties`.
    pub fn push_ndjson(&self, out: &mut String) {
        self.as_ref().push_ndjson(out);
    }

    fn as_ref(&self) -> EventRef<'_> {
        EventRef {
            uuid: &self.uuid,
            distinct_id: &self.distinct_id,
            event: self.event,
            timestamp_us: self.timestamp_us,
            properties_json: &self.properties_json,
        }
    }
}

impl Generator {
    /// A generator for a config.
    ///
    /// # Panics
    /// If the config is invalid; use [`Generator::try_new`] for configs that come from users.
    pub fn new(cfg: &GenConfig) -> Generator {
        match Generator::try_new(cfg) {
            Ok(generator) => generator,
            Err(err) => panic!("invalid generator config: {err}"),
        }
    }

    /// A generator for a config, after [`GenConfig::validate`].
    ///
    /// # Errors
    /// The config's first problem, as [`GenConfig::validate`] reports it.
    pub fn try_new(cfg: &GenConfig) -> Result<Generator, Error> {
        cfg.validate()?;
        let streams = PreparedApp::all(cfg)
            .into_iter()
            .map(AppStream::new)
            .collect();
        Ok(Generator { streams, cursor: 0 })
    }

    /// The project name of each app index used in chunks.
    pub fn projects(&self) -> Vec<&str> {
        self.streams
            .iter()
            .map(|s| s.app.profile.project.as_str())
            .collect()
    }

    /// Replaces the contents of `out` with the next chunk: up to `max` (at least 1) events of one app, tagged with
    /// the app's index. Apps take turns. Returns `false`, with `out` empty, once every app has met its quota.
    ///
    /// Within one app, events come user by user, and each user's events in time order. The sequence does not
    /// depend on `max`.
    pub fn next_chunk(&mut self, max: usize, out: &mut Vec<(usize, GenEvent)>) -> bool {
        out.clear();
        let n_apps = self.streams.len();
        for step in 0..n_apps {
            let app = (self.cursor + step) % n_apps;
            if self.streams[app].is_done() {
                continue;
            }
            self.streams[app].fill(max.max(1), &mut VecSink { app, out });
            self.cursor = (app + 1) % n_apps;
            return true;
        }
        false
    }

    /// Events handed out so far, over all apps.
    pub fn n_events(&self) -> u64 {
        self.streams.iter().map(|s| s.n_events()).sum()
    }
}

struct VecSink<'a> {
    app: usize,
    out: &'a mut Vec<(usize, GenEvent)>,
}

impl Sink for VecSink<'_> {
    fn push(&mut self, event: &EventRef<'_>) {
        self.out.push((
            self.app,
            GenEvent {
                uuid: *event.uuid,
                distinct_id: event.distinct_id.to_string(),
                event: event.event,
                timestamp_us: event.timestamp_us,
                properties_json: event.properties_json.to_string(),
            },
        ));
    }
}
