//! The server's resource budget: what one request, one connection and one key may cost, checked before the work.
//!
//! - [`MemoryBudget`]: bytes that capture requests hold while they are read, decoded and validated, shared by all of
//!   them; a request reserves as its buffers grow and is answered 503 with `Retry-After` when the budget is in use,
//!   so concurrent bodies, gzip bombs included, can never take more than the budget.
//! - [`QuarantineBudget`]: bytes each project may add to its quarantine per second, as a token bucket; rejections
//!   past it are dropped and counted, never written, so invalid traffic cannot fill the disk.
//! - [`ReadQueue`]: heavy reads (reports, event and quarantine listings) run a few at a time, each key with at most
//!   one waiting or running, so one key cannot starve the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use model::Project;

/// Every resource limit of a server, with the defaults documented in `docs/http-api.md`.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most items in one capture body; past it, 413 `too_many_items`.
    pub max_batch_items: usize,
    /// Bytes all capture requests together may hold while being read, decoded and validated; past it, 503
    /// `capture_memory_full` with `Retry-After`.
    pub capture_memory_bytes: usize,
    /// Bytes per second each project may add to its quarantine (each rejection costs its raw bytes plus
    /// 256 bytes for its reason, source and framing).
    pub quarantine_bytes_per_second: u64,
    /// Bytes a project may add to its quarantine in a burst.
    pub quarantine_burst_bytes: u64,
    /// Open connections; past it, a new connection is answered 503 `too_many_connections` and closed.
    pub max_connections: usize,
    /// Time a connection has to send a request's headers, counted from when it opened or its previous response
    /// was sent: it is also how long an idle keep-alive connection stays open.
    pub header_timeout: Duration,
    /// Time a request has from its headers to its response, body included; past it, 503 `request_timeout`.
    pub request_timeout: Duration,
    /// Heavy reads (reports, event and quarantine listings, persons) running at once; others wait in line.
    pub max_concurrent_reads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_batch_items: ingest::http::DEFAULT_MAX_ITEMS,
            capture_memory_bytes: 1 << 30,
            quarantine_bytes_per_second: 1 << 20,
            quarantine_burst_bytes: 64 << 20,
            max_connections: 1024,
            header_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_concurrent_reads: 2,
        }
    }
}

/// What a quarantined item costs besides its raw bytes: its reason, detail, source and framing in the side file.
pub(crate) const QUARANTINE_RECORD_COST: u64 = 256;

/// Bytes capture requests hold, shared by all of them.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    pub(crate) fn new(limit: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// Bytes reserved now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// An empty reservation that grows with [`Grant::grow`] and is given back when dropped.
    pub(crate) fn grant(self: &Arc<Self>) -> Grant {
        Grant {
            budget: self.clone(),
            held: 0,
        }
    }
}

/// Bytes one request holds of a [`MemoryBudget`].
#[derive(Debug)]
pub(crate) struct Grant {
    budget: Arc<MemoryBudget>,
    held: usize,
}

impl Grant {
    /// Reserves `n` more bytes, or fails (reserving nothing) when the budget cannot hold them.
    pub(crate) fn grow(&mut self, n: usize) -> Result<(), usize> {
        let b = &self.budget;
        let mut used = b.used.load(Ordering::Relaxed);
        loop {
            let next = used.saturating_add(n);
            if next > b.limit {
                return Err(b.limit);
            }
            match b
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.held += n;
                    return Ok(());
                }
                Err(now) => used = now,
            }
        }
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.held, Ordering::AcqRel);
    }
}

/// A token bucket of quarantine bytes per project.
#[derive(Debug)]
pub(crate) struct QuarantineBudget {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<Project, (f64, Instant)>>,
}

impl QuarantineBudget {
    pub(crate) fn new(bytes_per_second: u64, burst_bytes: u64) -> QuarantineBudget {
        QuarantineBudget {
            rate: bytes_per_second as f64,
            burst: burst_bytes.max(QUARANTINE_RECORD_COST) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `cost` bytes from the project's bucket if it holds them all; a request's quarantine is kept whole or
    /// dropped whole.
    pub(crate) fn take(&self, project: &Project, cost: u64) -> bool {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (level, last) = buckets.entry(project.clone()).or_insert((self.burst, now));
        *level = (*level + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        let cost = cost as f64;
        if cost > *level {
            return false;
        }
        *level -= cost;
        true
    }
}

/// Heavy reads: a few run at once, and each key has at most one waiting or running.
#[derive(Debug)]
pub(crate) struct ReadQueue {
    pub(crate) running: Arc<tokio::sync::Semaphore>,
    per_key: Mutex<HashMap<String, usize>>,
}

/// A key's place in the [`ReadQueue`], given back when dropped.
#[derive(Debug)]
pub(crate) struct KeySlot {
    queue: Arc<ReadQueue>,
    key: String,
}

impl ReadQueue {
    pub(crate) fn new(max_running: usize) -> Arc<ReadQueue> {
        Arc::new(ReadQueue {
            running: Arc::new(tokio::sync::Semaphore::new(max_running.max(1))),
            per_key: Mutex::new(HashMap::new()),
        })
    }

    /// The key's place in line, or `None` when it already has a read waiting or running.
    pub(crate) fn enter(self: &Arc<Self>, key: &str) -> Option<KeySlot> {
        let mut m = self
            .per_key
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = m.entry(key.to_string()).or_insert(0);
        if *n >= 1 {
            return None;
        }
        *n += 1;
        Some(KeySlot {
            queue: self.clone(),
            key: key.to_string(),
        })
    }
}

impl Drop for KeySlot {
    fn drop(&mut self) {
        let mut m = self
            .queue
            .per_key
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_gives_back_what_it_held() {
        let b = MemoryBudget::new(100);
        let mut g = b.grant();
        g.grow(60).unwrap();
        let mut h = b.grant();
        assert_eq!(h.grow(50), Err(100));
        h.grow(40).unwrap();
        assert_eq!(b.used(), 100);
        drop(g);
        assert_eq!(b.used(), 40);
        drop(h);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn the_quarantine_budget_is_per_project_and_refills() {
        let q = QuarantineBudget::new(0, 1000);
        let p = Project::new("p").unwrap();
        assert!(q.take(&p, 400));
        assert!(q.take(&p, 400));
        assert!(!q.take(&p, 400), "over the burst");
        assert!(q.take(&p, 200));
        let other = Project::new("o").unwrap();
        assert!(q.take(&other, 1000));
        let refilling = QuarantineBudget::new(1 << 30, 1000);
        assert!(refilling.take(&p, 1000));
        std::thread::sleep(Duration::from_millis(5));
        assert!(refilling.take(&p, 1000));
    }

    #[test]
    fn a_key_has_one_place_in_the_read_queue() {
        let q = ReadQueue::new(2);
        let a = q.enter("a").unwrap();
        assert!(q.enter("a").is_none());
        let _b = q.enter("b").unwrap();
        drop(a);
        assert!(q.enter("a").is_some());
    }
}
