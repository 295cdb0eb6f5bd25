//! The admission queue: priority levels, deadlines and batch formation.
//!
//! Everything here runs under the batcher's state lock and never blocks.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// Number of priority levels (see [`Priority`](crate::Priority)).
pub(crate) const LEVELS: usize = 3;

/// One queued request.
pub(crate) struct Entry<T> {
    pub(crate) cost: usize,
    pub(crate) rank: usize,
    pub(crate) enqueued: Instant,
    pub(crate) deadline: Option<Instant>,
    /// Passed over once by length-aware formation: goes first next time.
    pub(crate) overdue: bool,
    pub(crate) payload: T,
}

/// Limits that shape one batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_rows: usize,
    pub(crate) max_tokens: usize,
    pub(crate) padded: bool,
    pub(crate) length_aware: bool,
    pub(crate) window: usize,
    pub(crate) aging_step: Duration,
}

/// A candidate row seen by [`choose`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) cost: usize,
    pub(crate) overdue: bool,
}

/// The outcome of [`choose`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Choice {
    /// Indices into the candidates, in the order they were picked.
    pub(crate) picked: Vec<usize>,
    /// Indices of candidates that first in, first out would have picked but that were not.
    pub(crate) passed_over: Vec<usize>,
    /// The batch cannot grow any more: it hit a limit or requests are left over.
    pub(crate) full: bool,
}

/// Running size of a batch under construction.
#[derive(Default)]
struct Acc {
    rows: usize,
    longest: usize,
    sum: usize,
}

impl Acc {
    fn fits(&self, cost: usize, lim: &Limits) -> bool {
        if self.rows + 1 > lim.max_rows {
            return false;
        }
        let tokens = if lim.padded {
            self.longest.max(cost).saturating_mul(self.rows + 1)
        } else {
            self.sum.saturating_add(cost)
        };
        tokens <= lim.max_tokens
    }

    fn add(&mut self, cost: usize) {
        self.rows += 1;
        self.longest = self.longest.max(cost);
        self.sum += cost;
    }
}

/// Chooses a batch from `cands`, which are in serving order (most urgent first); `more` says
/// whether further requests wait beyond the candidates.
///
/// First in, first out takes candidates in order and stops at the first that does not fit.
/// Length-aware formation always takes the first candidate (the anchor), then every overdue
/// candidate, then the candidates whose cost is nearest the anchor's. Candidates that first
/// in, first out would have put in this batch but that were not picked become overdue, so a
/// request is passed over at most once.
pub(crate) fn choose(cands: &[Candidate], more: bool, lim: &Limits) -> Choice {
    let mut acc = Acc::default();
    let mut picked = Vec::with_capacity(cands.len().min(lim.max_rows));
    let mut taken = vec![false; cands.len()];
    let mut take = |i: usize, acc: &mut Acc, picked: &mut Vec<usize>| {
        if !taken[i] && acc.fits(cands[i].cost, lim) {
            acc.add(cands[i].cost);
            taken[i] = true;
            picked.push(i);
        }
    };
    if !lim.length_aware {
        for (i, c) in cands.iter().enumerate() {
            if !acc.fits(c.cost, lim) {
                break;
            }
            take(i, &mut acc, &mut picked);
        }
    } else if let Some(anchor) = cands.first() {
        take(0, &mut acc, &mut picked);
        let overdue: Vec<usize> = (1..cands.len()).filter(|&i| cands[i].overdue).collect();
        for i in overdue {
            take(i, &mut acc, &mut picked);
        }
        let mut order: Vec<usize> = (1..cands.len()).filter(|&i| !cands[i].overdue).collect();
        order.sort_by_key(|&i| (cands[i].cost.abs_diff(anchor.cost), i));
        for i in order {
            if acc.rows == lim.max_rows {
                break;
            }
            take(i, &mut acc, &mut picked);
        }
    }
    let mut passed_over = Vec::new();
    if lim.length_aware {
        // Only rows that first in, first out would have served now are delayed by this
        // choice; they become overdue and lead the next batch.
        let mut fifo = Acc::default();
        let prefix = cands
            .iter()
            .take_while(|c| {
                let fits = fifo.fits(c.cost, lim);
                if fits {
                    fifo.add(c.cost);
                }
                fits
            })
            .count();
        passed_over.extend((0..prefix).filter(|&i| !taken[i]));
    }
    let full = acc.rows == lim.max_rows || picked.len() < cands.len() || more;
    Choice {
        picked,
        passed_over,
        full,
    }
}

/// Queued requests by priority level, with a deadline index.
pub(crate) struct Queue<T> {
    entries: HashMap<u64, Entry<T>>,
    /// Request ids per level in arrival order; ids of removed requests are skipped lazily.
    levels: [VecDeque<u64>; LEVELS],
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    tokens: usize,
    next_id: u64,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        Self {
            entries: HashMap::new(),
            levels: Default::default(),
            deadlines: BinaryHeap::new(),
            tokens: 0,
            next_id: 0,
        }
    }

    /// Queued requests.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Queued tokens.
    pub(crate) fn tokens(&self) -> usize {
        self.tokens
    }

    /// Enqueues a request and returns its id.
    pub(crate) fn push(&mut self, entry: Entry<T>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.tokens += entry.cost;
        self.levels[entry.rank].push_back(id);
        if let Some(d) = entry.deadline {
            self.deadlines.push(Reverse((d, id)));
        }
        self.entries.insert(id, entry);
        id
    }

    /// Removes a request (cancelled, expired or shut down).
    pub(crate) fn remove(&mut self, id: u64) -> Option<Entry<T>> {
        let e = self.entries.remove(&id)?;
        self.tokens -= e.cost;
        self.compact();
        Some(e)
    }

    /// Drops ids of removed requests once they outnumber the live ones.
    fn compact(&mut self) {
        let live = self.entries.len();
        if self.levels.iter().map(VecDeque::len).sum::<usize>() > 2 * live + 64 {
            for level in &mut self.levels {
                level.retain(|id| self.entries.contains_key(id));
            }
        }
        if self.deadlines.len() > 2 * live + 64 {
            let entries = &self.entries;
            self.deadlines
                .retain(|Reverse((_, id))| entries.contains_key(id));
        }
    }

    /// Arrival time of the oldest queued request.
    pub(crate) fn oldest(&mut self) -> Option<Instant> {
        (0..LEVELS)
            .filter_map(|l| self.head(l).map(|id| self.entries[&id].enqueued))
            .min()
    }

    /// The live id at the front of a level, dropping removed ids on the way.
    fn head(&mut self, level: usize) -> Option<u64> {
        while let Some(&id) = self.levels[level].front() {
            if self.entries.contains_key(&id) {
                return Some(id);
            }
            self.levels[level].pop_front();
        }
        None
    }

    /// Earliest deadline of a queued request (possibly of one already removed).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((d, _))| *d)
    }

    /// Removes and returns every request whose deadline is at or before `now`.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Entry<T>> {
        let mut out = Vec::new();
        while let Some(Reverse((d, id))) = self.deadlines.peek().copied() {
            if d > now {
                break;
            }
            self.deadlines.pop();
            if let Some(e) = self.entries.remove(&id) {
                self.tokens -= e.cost;
                out.push(e);
            }
        }
        if !out.is_empty() {
            self.compact();
        }
        out
    }

    /// Removes and returns everything.
    pub(crate) fn drain(&mut self) -> Vec<Entry<T>> {
        self.levels.iter_mut().for_each(VecDeque::clear);
        self.deadlines.clear();
        self.tokens = 0;
        self.entries.drain().map(|(_, e)| e).collect()
    }

    /// Up to `limit` queued ids in serving order: by effective level (a request is promoted
    /// one level per `aging_step` waited), then by age. Also says whether more are queued.
    pub(crate) fn ordered(
        &mut self,
        now: Instant,
        aging_step: Duration,
        limit: usize,
    ) -> (Vec<u64>, bool) {
        let step = aging_step.as_nanos().max(1);
        let mut pos = [0usize; LEVELS];
        let mut out = Vec::with_capacity(limit.min(self.entries.len()));
        while out.len() < limit {
            let mut best: Option<(usize, Instant, u64, usize)> = None;
            for l in 0..LEVELS {
                let q = &self.levels[l];
                while pos[l] < q.len() && !self.entries.contains_key(&q[pos[l]]) {
                    pos[l] += 1;
                }
                let Some(&id) = q.get(pos[l]) else { continue };
                let e = &self.entries[&id];
                let promoted = now.saturating_duration_since(e.enqueued).as_nanos() / step;
                let eff = e
                    .rank
                    .saturating_sub(usize::try_from(promoted).unwrap_or(usize::MAX));
                let key = (eff, e.enqueued, id, l);
                if best.is_none_or(|b| (key.0, key.1, key.2) < (b.0, b.1, b.2)) {
                    best = Some(key);
                }
            }
            let Some((_, _, id, l)) = best else { break };
            out.push(id);
            pos[l] += 1;
        }
        let more = out.len() < self.entries.len();
        (out, more)
    }

    /// Forms the next batch: `None` if nothing is queued, else the choice and whether it is
    /// full. Does not remove anything.
    pub(crate) fn plan(&mut self, now: Instant, lim: &Limits) -> Option<(Vec<u64>, Choice)> {
        if self.entries.is_empty() {
            return None;
        }
        let window = if lim.length_aware {
            lim.window
        } else {
            lim.max_rows
        };
        let (ids, more) = self.ordered(now, lim.aging_step, window);
        let cands: Vec<Candidate> = ids
            .iter()
            .map(|id| {
                let e = &self.entries[id];
                Candidate {
                    cost: e.cost,
                    overdue: e.overdue,
                }
            })
            .collect();
        let choice = choose(&cands, more, lim);
        Some((ids, choice))
    }

    /// Removes the picked requests of a plan, marks the passed-over ones overdue, and returns
    /// the picked entries with their ids.
    pub(crate) fn take(&mut self, ids: &[u64], choice: &Choice) -> Vec<Entry<T>> {
        for &i in &choice.passed_over {
            if let Some(e) = self.entries.get_mut(&ids[i]) {
                e.overdue = true;
            }
        }
        let out: Vec<Entry<T>> = choice
            .picked
            .iter()
            .filter_map(|&i| {
                let e = self.entries.remove(&ids[i])?;
                self.tokens -= e.cost;
                Some(e)
            })
            .collect();
        self.compact();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(max_rows: usize, max_tokens: usize, length_aware: bool) -> Limits {
        Limits {
            max_rows,
            max_tokens,
            padded: true,
            length_aware,
            window: 64,
            aging_step: Duration::from_millis(100),
        }
    }

    fn cands(costs: &[usize]) -> Vec<Candidate> {
        costs
            .iter()
            .map(|&cost| Candidate {
                cost,
                overdue: false,
            })
            .collect()
    }

    #[test]
    fn fifo_stops_at_first_row_that_does_not_fit() {
        let c = choose(&cands(&[10, 50, 11, 12]), false, &lim(8, 120, false));
        // 10, 50 -> 2 × 50 = 100; + 11 -> 3 × 50 = 150 > 120: stop.
        assert_eq!(c.picked, vec![0, 1]);
        assert!(c.passed_over.is_empty());
        assert!(c.full);
    }

    #[test]
    fn fifo_takes_everything_that_fits_and_is_not_full() {
        let c = choose(&cands(&[10, 20]), false, &lim(8, 1000, false));
        assert_eq!(c.picked, vec![0, 1]);
        assert!(!c.full);
    }

    #[test]
    fn length_aware_groups_similar_rows_around_the_anchor() {
        let c = choose(
            &cands(&[10, 50, 11, 52, 12, 49]),
            false,
            &lim(3, 1000, true),
        );
        assert_eq!(c.picked, vec![0, 2, 4]);
        // First in, first out would have served 10, 50, 11: only 50 was delayed.
        assert_eq!(c.passed_over, vec![1]);
        assert!(c.full);
    }

    #[test]
    fn overdue_rows_go_first() {
        let mut cs = cands(&[10, 50, 11, 52, 12]);
        cs[1].overdue = true;
        cs[3].overdue = true;
        let c = choose(&cs, false, &lim(3, 1000, true));
        assert_eq!(c.picked, vec![0, 1, 3]);
    }

    #[test]
    fn token_budget_limits_padded_batches() {
        // padded: longest × rows must stay within 100.
        let c = choose(&cands(&[30, 30, 30, 30]), false, &lim(8, 100, true));
        assert_eq!(c.picked.len(), 3);
        assert!(c.full);
        let mut unpadded = lim(8, 100, true);
        unpadded.padded = false;
        let c = choose(&cands(&[10, 60, 30, 30]), false, &unpadded);
        assert_eq!(c.picked, vec![0, 2, 3]); // 10 + 30 + 30 = 70; 60 does not fit after that
    }

    #[test]
    fn a_row_is_passed_over_at_most_once() {
        // Simulate the queue: the long row 1 is passed over once, then served.
        let mut q: Queue<()> = Queue::new();
        let t = Instant::now();
        for cost in [10, 50, 10, 10, 10, 10, 10, 10] {
            q.push(Entry {
                cost,
                rank: 1,
                enqueued: t,
                deadline: None,
                overdue: false,
                payload: (),
            });
        }
        let l = lim(3, 1000, true);
        let (ids, c) = q.plan(t, &l).unwrap();
        let first: Vec<usize> = q.take(&ids, &c).iter().map(|e| e.cost).collect();
        assert_eq!(first, vec![10, 10, 10]);
        let (ids, c) = q.plan(t, &l).unwrap();
        let second: Vec<usize> = q.take(&ids, &c).iter().map(|e| e.cost).collect();
        assert_eq!(
            second,
            vec![50, 10, 10],
            "the passed-over row leads the next batch"
        );
        assert_eq!(q.len(), 2);
        assert_eq!(q.tokens(), 20);
    }

    #[test]
    fn ordering_is_strict_by_level_with_aging() {
        let mut q: Queue<()> = Queue::new();
        let t0 = Instant::now();
        let push = |q: &mut Queue<()>, rank, at| {
            q.push(Entry {
                cost: 1,
                rank,
                enqueued: at,
                deadline: None,
                overdue: false,
                payload: (),
            })
        };
        let low = push(&mut q, 2, t0);
        let normal = push(&mut q, 1, t0 + Duration::from_millis(10));
        let high = push(&mut q, 0, t0 + Duration::from_millis(20));
        let step = Duration::from_millis(100);
        let (ids, more) = q.ordered(t0 + Duration::from_millis(30), step, 10);
        assert_eq!(ids, vec![high, normal, low]);
        assert!(!more);
        // After 150 ms every request has been promoted once: normal now ties with high and,
        // older, goes first. After 250 ms all tie and go strictly by age.
        let (ids, _) = q.ordered(t0 + Duration::from_millis(150), step, 10);
        assert_eq!(ids, vec![normal, high, low]);
        let (ids, _) = q.ordered(t0 + Duration::from_millis(250), step, 10);
        assert_eq!(ids, vec![low, normal, high]);
        let (ids, more) = q.ordered(t0, step, 2);
        assert_eq!(ids.len(), 2);
        assert!(more);
    }

    #[test]
    fn expiry_and_removal_free_tokens() {
        let mut q: Queue<u8> = Queue::new();
        let t0 = Instant::now();
        let a = q.push(Entry {
            cost: 5,
            rank: 1,
            enqueued: t0,
            deadline: Some(t0 + Duration::from_millis(5)),
            overdue: false,
            payload: 1,
        });
        let b = q.push(Entry {
            cost: 7,
            rank: 1,
            enqueued: t0,
            deadline: Some(t0 + Duration::from_millis(50)),
            overdue: false,
            payload: 2,
        });
        assert_eq!(q.tokens(), 12);
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_millis(5)));
        let gone = q.expire(t0 + Duration::from_millis(10));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].payload, 1);
        assert!(q.remove(a).is_none());
        assert_eq!(q.tokens(), 7);
        assert_eq!(q.remove(b).map(|e| e.payload), Some(2));
        assert!(q.is_empty());
        assert_eq!(q.oldest(), None);
    }
}
