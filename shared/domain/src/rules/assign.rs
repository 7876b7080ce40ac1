//! Who gets the next chat.

use crate::model::Agent;

/// A conversation in the waiting queue.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitingChat {
    pub conversation_id: String,
    pub waiting_since_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub conversation_id: String,
    pub agent_id: String,
}

/// Picks the agent for one chat: online, enabled, with free capacity; the least loaded (share of capacity
/// in use, then fewest chats), then the one who waited longest since their last chat, then by id so the
/// choice is deterministic.
pub fn pick_agent(agents: &[Agent]) -> Option<&Agent> {
    agents
        .iter()
        .filter(|a| a.has_free_capacity())
        .min_by(|a, b| {
            // a.active / a.capacity  vs  b.active / b.capacity, compared without floats
            let load_a = u64::from(a.active_chats) * u64::from(b.capacity);
            let load_b = u64::from(b.active_chats) * u64::from(a.capacity);
            load_a
                .cmp(&load_b)
                .then(a.active_chats.cmp(&b.active_chats))
                .then(a.last_assigned_ms.cmp(&b.last_assigned_ms))
                .then(a.agent_id.cmp(&b.agent_id))
        })
}

/// Plans assignments for the waiting queue: longest waiting first (ties by conversation id), each to the
/// agent [`pick_agent`] chooses given the assignments planned before it. Stops when nobody has capacity.
pub fn plan_assignments(waiting: &[WaitingChat], agents: &[Agent], now_ms: i64) -> Vec<Assignment> {
    let mut queue: Vec<&WaitingChat> = waiting.iter().collect();
    queue.sort_by(|a, b| {
        a.waiting_since_ms
            .cmp(&b.waiting_since_ms)
            .then_with(|| a.conversation_id.cmp(&b.conversation_id))
    });
    let mut agents: Vec<Agent> = agents.to_vec();
    let mut plan = Vec::new();
    for chat in queue {
        let Some(agent_id) = pick_agent(&agents).map(|a| a.agent_id.clone()) else {
            break;
        };
        let agent = agents
            .iter_mut()
            .find(|a| a.agent_id == agent_id)
            .expect("picked from the list");
        agent.active_chats += 1;
        agent.last_assigned_ms = now_ms;
        plan.push(Assignment {
            conversation_id: chat.conversation_id.clone(),
            agent_id,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Presence;

    fn agent(id: &str, presence: Presence, capacity: u32, active: u32, last: i64) -> Agent {
        Agent {
            account_id: "acc".into(),
            agent_id: id.into(),
            display_name: id.into(),
            presence,
            capacity,
            active_chats: active,
            last_assigned_ms: last,
            kf_account: None,
            enabled: true,
            line2: None,
        }
    }

    fn chat(id: &str, since: i64) -> WaitingChat {
        WaitingChat {
            conversation_id: id.into(),
            waiting_since_ms: since,
        }
    }

    #[test]
    fn offline_full_and_disabled_agents_get_nothing() {
        let mut disabled = agent("d", Presence::Online, 5, 0, 0);
        disabled.enabled = false;
        let agents = vec![
            agent("off", Presence::Offline, 5, 0, 0),
            agent("full", Presence::Online, 2, 2, 0),
            disabled,
        ];
        assert!(pick_agent(&agents).is_none());
        assert!(plan_assignments(&[chat("c1", 1)], &agents, 10).is_empty());
    }

    #[test]
    fn least_loaded_then_longest_idle() {
        let agents = vec![
            agent("busy", Presence::Online, 4, 2, 0),    // 50 %
            agent("light", Presence::Online, 10, 2, 50), // 20 %
            agent("idle", Presence::Online, 10, 2, 10),  // 20 %, idle longer
        ];
        assert_eq!(pick_agent(&agents).unwrap().agent_id, "idle");
    }

    #[test]
    fn longest_waiting_first_and_capacity_respected() {
        let agents = vec![
            agent("a", Presence::Online, 1, 0, 0),
            agent("b", Presence::Online, 1, 0, 5),
        ];
        let waiting = vec![chat("new", 300), chat("oldest", 100), chat("middle", 200)];
        let plan = plan_assignments(&waiting, &agents, 1_000);
        assert_eq!(
            plan,
            vec![
                Assignment {
                    conversation_id: "oldest".into(),
                    agent_id: "a".into()
                },
                Assignment {
                    conversation_id: "middle".into(),
                    agent_id: "b".into()
                },
            ]
        );
    }

    #[test]
    fn spreads_chats_round_robin_among_equal_agents() {
        let agents = vec![
            agent("a", Presence::Online, 3, 0, 0),
            agent("b", Presence::Online, 3, 0, 0),
        ];
        let waiting: Vec<WaitingChat> = (0..4).map(|i| chat(&format!("c{i}"), i)).collect();
        let who: Vec<String> = plan_assignments(&waiting, &agents, 7)
            .into_iter()
            .map(|a| a.agent_id)
            .collect();
        assert_eq!(who, ["a", "b", "a", "b"]);
    }
}
