//! The in-process consumer-group coordinator shared by the memory and embedded buses.
//!
//! Kafka runs this protocol in the broker; with one process owning the data dir, the bus runs it
//! in memory. It is *cooperative*: a partition moves from member A to member B only after A has
//! released it (which A does inside its own `next`/`poll`, after its `on_revoked` callback
//! returned). So at every instant a partition has at most one owner, which is what the runtime
//! needs ("one owner at a time per key", DESIGN.md §2). Members that wait for a partition still
//! held by another member get it as soon as that member releases it or leaves.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::types::{GroupId, TopicPartition};
use twinlog_core::TopicName;

/// Identifies one member of one group inside this process; never reused.
pub(crate) type MemberId = u64;

/// The membership and ownership of every group of one bus.
#[derive(Debug, Default)]
pub(crate) struct Coordinator {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_member: MemberId,
    groups: HashMap<GroupId, Group>,
}

#[derive(Debug, Default)]
struct Group {
    members: BTreeMap<MemberId, Member>,
    /// Who holds each partition right now (assigned and not yet released).
    owners: HashMap<TopicPartition, MemberId>,
}

#[derive(Debug)]
struct Member {
    /// Subscribed topics with their partition counts (fixed at topic creation).
    topics: Vec<(TopicName, u32)>,
    /// What the assignor wants this member to hold.
    target: BTreeSet<TopicPartition>,
    /// What this member holds (a subset of `target` plus partitions not yet released).
    owned: BTreeSet<TopicPartition>,
    wake: Arc<Notify>,
}

impl Coordinator {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is only mutated by short non-panicking sections; a poisoned lock still
        // holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a member subscribed to `topics` and rebalances the group.
    pub(crate) fn join(
        &self,
        group: &GroupId,
        topics: Vec<(TopicName, u32)>,
    ) -> (MemberId, Arc<Notify>) {
        let mut state = self.lock();
        state.next_member += 1;
        let id = state.next_member;
        let wake = Arc::new(Notify::new());
        let g = state.groups.entry(group.clone()).or_default();
        g.members.insert(
            id,
            Member {
                topics,
                target: BTreeSet::new(),
                owned: BTreeSet::new(),
                wake: Arc::clone(&wake),
            },
        );
        g.rebalance();
        (id, wake)
    }

    /// Removes a member (its partitions are released at once) and rebalances the group.
    pub(crate) fn leave(&self, group: &GroupId, member: MemberId) {
        let mut state = self.lock();
        let Some(g) = state.groups.get_mut(group) else {
            return;
        };
        if let Some(m) = g.members.remove(&member) {
            for tp in m.owned {
                g.owners.remove(&tp);
            }
        }
        if g.members.is_empty() {
            state.groups.remove(group);
        } else {
            g.rebalance();
        }
    }

    /// Partitions this member holds but should give up (call `on_revoked`, then `release`).
    pub(crate) fn to_revoke(&self, group: &GroupId, member: MemberId) -> Vec<TopicPartition> {
        let state = self.lock();
        state
            .groups
            .get(group)
            .and_then(|g| g.members.get(&member))
            .map(|m| m.owned.difference(&m.target).cloned().collect())
            .unwrap_or_default()
    }

    /// Gives up `partitions` and wakes the members waiting for them.
    pub(crate) fn release(&self, group: &GroupId, member: MemberId, partitions: &[TopicPartition]) {
        let mut state = self.lock();
        let Some(g) = state.groups.get_mut(group) else {
            return;
        };
        if let Some(m) = g.members.get_mut(&member) {
            for tp in partitions {
                m.owned.remove(tp);
            }
        }
        for tp in partitions {
            if g.owners.get(tp) == Some(&member) {
                g.owners.remove(tp);
            }
        }
        for (id, m) in &g.members {
            if *id != member && partitions.iter().any(|tp| m.target.contains(tp)) {
                m.wake.notify_one();
            }
        }
    }

    /// Takes every targeted partition that nobody holds; returns what was taken.
    pub(crate) fn acquire(&self, group: &GroupId, member: MemberId) -> Vec<TopicPartition> {
        let mut state = self.lock();
        let Some(g) = state.groups.get_mut(group) else {
            return Vec::new();
        };
        let Some(m) = g.members.get_mut(&member) else {
            return Vec::new();
        };
        let free: Vec<TopicPartition> = m
            .target
            .difference(&m.owned)
            .filter(|tp| !g.owners.contains_key(*tp))
            .cloned()
            .collect();
        for tp in &free {
            m.owned.insert(tp.clone());
            g.owners.insert(tp.clone(), member);
        }
        free
    }

    /// Whether `member` holds `tp` now (commits and seeks are fenced by this).
    pub(crate) fn owns(&self, group: &GroupId, member: MemberId, tp: &TopicPartition) -> bool {
        let state = self.lock();
        state
            .groups
            .get(group)
            .is_some_and(|g| g.owners.get(tp) == Some(&member))
    }
}

impl Group {
    /// Recomputes every member's target and wakes the members whose target changed.
    ///
    /// When every member subscribes to the same topics (the usual case: identical agents),
    /// the assignment is balanced *and sticky*: each member keeps as many of its current
    /// partitions as its share allows, and only the surplus moves — every move deactivates and
    /// reactivates what lives on a partition, so fewer moves mean a cheaper rebalance.
    /// Otherwise each partition goes to the least-loaded member subscribed to its topic, most
    /// constrained partitions first (balanced where the subscriptions allow it, not sticky).
    fn rebalance(&mut self) {
        let mut all: BTreeMap<TopicPartition, Vec<MemberId>> = BTreeMap::new();
        for (id, m) in &self.members {
            for (topic, n) in &m.topics {
                for p in 0..*n {
                    all.entry(TopicPartition::new(topic.clone(), p))
                        .or_default()
                        .push(*id);
                }
            }
        }
        let k = self.members.len();
        let targets = if all.values().all(|eligible| eligible.len() == k) {
            self.sticky(all.into_keys().collect())
        } else {
            Self::least_loaded(self.members.keys().copied(), all)
        };
        for (id, target) in targets {
            if let Some(m) = self.members.get_mut(&id)
                && m.target != target
            {
                m.target = target;
                m.wake.notify_one();
            }
        }
        // A partition whose owner left may now be free for an unchanged target: wake all.
        for m in self.members.values() {
            if m.target.iter().any(|tp| !m.owned.contains(tp)) {
                m.wake.notify_one();
            }
        }
    }
}

impl Group {
    /// Balanced sticky assignment of `all` over members that all subscribe to every one of
    /// them: shares differ by at most one, the larger shares go to the members holding the
    /// most now, each keeps its current partitions up to its share, the rest is dealt out.
    fn sticky(&self, all: Vec<TopicPartition>) -> BTreeMap<MemberId, BTreeSet<TopicPartition>> {
        let k = self.members.len();
        let (base, extra) = (all.len() / k, all.len() % k);
        let valid: BTreeSet<&TopicPartition> = all.iter().collect();
        let mut by_holding: Vec<(MemberId, Vec<TopicPartition>)> = self
            .members
            .iter()
            .map(|(id, m)| {
                let current = m.target.iter().filter(|tp| valid.contains(tp)).cloned();
                (*id, current.collect())
            })
            .collect();
        by_holding.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        let mut targets = BTreeMap::new();
        let mut quotas = BTreeMap::new();
        let mut taken: BTreeSet<TopicPartition> = BTreeSet::new();
        for (i, (id, current)) in by_holding.into_iter().enumerate() {
            let quota = base + usize::from(i < extra);
            let kept: BTreeSet<TopicPartition> = current.into_iter().take(quota).collect();
            taken.extend(kept.iter().cloned());
            quotas.insert(id, quota);
            targets.insert(id, kept);
        }
        for tp in all.into_iter().filter(|tp| !taken.contains(tp)) {
            let open = targets
                .iter()
                .filter(|(id, set)| set.len() < quotas[*id])
                .map(|(id, set)| (set.len(), *id))
                .min();
            if let Some((_, id)) = open
                && let Some(set) = targets.get_mut(&id)
            {
                set.insert(tp);
            }
        }
        targets
    }

    /// Each partition to the least-loaded eligible member (ties to the oldest), handing out
    /// the partitions with the fewest eligible members first.
    fn least_loaded(
        members: impl Iterator<Item = MemberId>,
        all: BTreeMap<TopicPartition, Vec<MemberId>>,
    ) -> BTreeMap<MemberId, BTreeSet<TopicPartition>> {
        let mut order: Vec<(TopicPartition, Vec<MemberId>)> = all.into_iter().collect();
        // Stable: within one eligibility count, topic and partition order is kept.
        order.sort_by_key(|(_, eligible)| eligible.len());
        let mut targets: BTreeMap<MemberId, BTreeSet<TopicPartition>> =
            members.map(|id| (id, BTreeSet::new())).collect();
        for (tp, eligible) in order {
            let chosen = eligible
                .iter()
                .map(|id| (targets.get(id).map_or(0, BTreeSet::len), *id))
                .min();
            if let Some((_, id)) = chosen
                && let Some(set) = targets.get_mut(&id)
            {
                set.insert(tp);
            }
        }
        targets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> TopicName {
        TopicName::new(name).expect("valid topic name")
    }

    fn group() -> GroupId {
        GroupId::new("g").expect("valid group id")
    }

    #[test]
    fn a_single_member_gets_every_partition() {
        let c = Coordinator::default();
        let (a, _) = c.join(&group(), vec![(topic("t"), 3)]);
        let got = c.acquire(&group(), a);
        assert_eq!(got.len(), 3);
        assert!(c.to_revoke(&group(), a).is_empty());
    }

    #[test]
    fn a_partition_moves_only_after_its_owner_released_it() {
        let c = Coordinator::default();
        let g = group();
        let (a, _) = c.join(&g, vec![(topic("t"), 2)]);
        assert_eq!(c.acquire(&g, a).len(), 2);
        let (b, wake_b) = c.join(&g, vec![(topic("t"), 2)]);
        // b is targeted one partition but a still holds it.
        assert!(c.acquire(&g, b).is_empty());
        let revoke = c.to_revoke(&g, a);
        assert_eq!(revoke.len(), 1);
        c.release(&g, a, &revoke);
        assert_eq!(c.acquire(&g, b), revoke);
        assert!(c.owns(&g, b, &revoke[0]));
        assert!(!c.owns(&g, a, &revoke[0]));
        drop(wake_b);
        c.leave(&g, b);
        assert_eq!(c.acquire(&g, a), revoke);
    }

    #[test]
    fn partitions_are_balanced_and_topics_go_only_to_their_subscribers() {
        let c = Coordinator::default();
        let g = group();
        let (a, _) = c.join(&g, vec![(topic("t"), 5), (topic("u"), 2)]);
        let a_all = c.acquire(&g, a);
        assert_eq!(a_all.len(), 7);
        let (b, _) = c.join(&g, vec![(topic("t"), 5)]);
        let (d, _) = c.join(&g, vec![(topic("t"), 5)]);
        // a holds everything until it releases; b and d wait.
        assert!(c.acquire(&g, b).is_empty() && c.acquire(&g, d).is_empty());
        let revoke = c.to_revoke(&g, a);
        c.release(&g, a, &revoke);
        let b_got = c.acquire(&g, b);
        let d_got = c.acquire(&g, d);
        let a_kept: Vec<TopicPartition> = a_all
            .iter()
            .filter(|tp| !revoke.contains(tp))
            .cloned()
            .collect();
        // u (2 partitions) can only go to a; t's 5 are spread so that loads differ by at most 1.
        assert_eq!(a_kept.iter().filter(|tp| tp.topic == topic("u")).count(), 2);
        let loads = [a_kept.len(), b_got.len(), d_got.len()];
        assert_eq!(loads.iter().sum::<usize>(), 7);
        assert!(
            loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1,
            "{loads:?}"
        );
        assert!(b_got.iter().chain(&d_got).all(|tp| tp.topic == topic("t")));
    }

    #[test]
    fn identical_members_rebalance_stickily() {
        let c = Coordinator::default();
        let g = group();
        let t = || vec![(topic("t"), 6)];
        let (a, _) = c.join(&g, t());
        assert_eq!(c.acquire(&g, a).len(), 6);
        let (b, _) = c.join(&g, t());
        let moved = c.to_revoke(&g, a);
        assert_eq!(moved.len(), 3, "a gives up exactly its surplus");
        c.release(&g, a, &moved);
        assert_eq!(c.acquire(&g, b), moved);
        let (d, _) = c.join(&g, t());
        // 6 over 3: a and b each give up one partition, to d; nothing else moves.
        let from_a = c.to_revoke(&g, a);
        let from_b = c.to_revoke(&g, b);
        assert_eq!((from_a.len(), from_b.len()), (1, 1));
        c.release(&g, a, &from_a);
        c.release(&g, b, &from_b);
        let d_got = c.acquire(&g, d);
        assert_eq!(d_got.len(), 2);
        assert!(d_got.contains(&from_a[0]) && d_got.contains(&from_b[0]));
        // d leaves: its two partitions go back, one each, and nothing else moves.
        c.leave(&g, d);
        assert!(c.to_revoke(&g, a).is_empty() && c.to_revoke(&g, b).is_empty());
        let back: Vec<TopicPartition> = [c.acquire(&g, a), c.acquire(&g, b)].concat();
        assert_eq!(back.len(), 2);
    }
}
