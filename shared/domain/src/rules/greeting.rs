//! Which automatic greeting applies, and in which language.

use crate::messages::GreetingTrigger;
use crate::model::{Greeting, GreetingKind, Lang};

/// What the greeting decision looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct GreetingSituation {
    pub trigger: GreetingTrigger,
    /// Agents online (presence channels).
    pub agents_online: u32,
    /// Conversations waiting for an agent, including the new one if it was not assigned.
    pub waiting: u32,
    /// The account's busy threshold; `None` disables the busy greeting.
    pub busy_threshold: Option<u32>,
    /// `Some(..)` on channels that decide by business hours (WeCom) instead of presence.
    pub within_business_hours: Option<bool>,
}

/// Chooses the greeting kind, or `None` when no greeting applies.
///
/// - follow → new-follower;
/// - a new conversation: offline when nobody is present (or outside business hours); busy when present
///   but the waiting queue is at or above the busy threshold; online otherwise.
pub fn choose_greeting(s: &GreetingSituation) -> Option<GreetingKind> {
    match s.trigger {
        GreetingTrigger::Follow => Some(GreetingKind::NewFollower),
        GreetingTrigger::ConversationStarted => {
            let present = match s.within_business_hours {
                Some(open) => open,
                None => s.agents_online > 0,
            };
            if !present {
                return Some(GreetingKind::Offline);
            }
            match s.busy_threshold {
                Some(t) if t > 0 && s.waiting >= t => Some(GreetingKind::Busy),
                _ => Some(GreetingKind::Online),
            }
        }
    }
}

/// Picks the greeting text for `kind` on `channel_id` in the customer's language.
///
/// Order: the customer's language, then its related script (`zh-Hant` ↔ `zh-Hans`), then the account
/// default; within each language a greeting for this channel wins over the account-wide one. A busy
/// greeting that is not configured falls back to the online greeting (the customer should still hear
/// something). Disabled greetings are skipped.
pub fn pick_greeting<'a>(
    greetings: &'a [Greeting],
    kind: GreetingKind,
    channel_id: &str,
    customer_lang: Option<&Lang>,
    default_lang: &Lang,
) -> Option<&'a Greeting> {
    let mut langs: Vec<&str> = Vec::with_capacity(4);
    if let Some(l) = customer_lang {
        langs.push(l.as_str());
        langs.extend(l.fallbacks().iter().copied());
    }
    langs.push(default_lang.as_str());

    let find = |kind: GreetingKind| {
        langs.iter().find_map(|lang| {
            let mut candidates = greetings
                .iter()
                .filter(|g| g.enabled && g.kind == kind && g.lang.as_str() == *lang);
            let all: Vec<&Greeting> = candidates.by_ref().collect();
            all.iter()
                .find(|g| g.channel_id.as_deref() == Some(channel_id))
                .or_else(|| all.iter().find(|g| g.channel_id.is_none()))
                .copied()
        })
    };
    find(kind).or_else(|| match kind {
        GreetingKind::Busy => find(GreetingKind::Online),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn situation(
        trigger: GreetingTrigger,
        online: u32,
        waiting: u32,
        busy: Option<u32>,
    ) -> GreetingSituation {
        GreetingSituation {
            trigger,
            agents_online: online,
            waiting,
            busy_threshold: busy,
            within_business_hours: None,
        }
    }

    #[test]
    fn follow_gets_new_follower_whatever_the_presence() {
        for online in [0, 3] {
            let s = situation(GreetingTrigger::Follow, online, 100, Some(1));
            assert_eq!(choose_greeting(&s), Some(GreetingKind::NewFollower));
        }
    }

    #[test]
    fn nobody_present_is_offline_even_when_busy() {
        let s = situation(GreetingTrigger::ConversationStarted, 0, 50, Some(5));
        assert_eq!(choose_greeting(&s), Some(GreetingKind::Offline));
    }

    #[test]
    fn present_is_online_below_threshold_and_busy_at_it() {
        let c = GreetingTrigger::ConversationStarted;
        assert_eq!(
            choose_greeting(&situation(c, 2, 4, Some(5))),
            Some(GreetingKind::Online)
        );
        assert_eq!(
            choose_greeting(&situation(c, 2, 5, Some(5))),
            Some(GreetingKind::Busy)
        );
        assert_eq!(
            choose_greeting(&situation(c, 2, 9, Some(5))),
            Some(GreetingKind::Busy)
        );
        assert_eq!(
            choose_greeting(&situation(c, 2, 9, None)),
            Some(GreetingKind::Online)
        );
        // A threshold of 0 would make every chat busy: treated as disabled.
        assert_eq!(
            choose_greeting(&situation(c, 2, 9, Some(0))),
            Some(GreetingKind::Online)
        );
    }

    #[test]
    fn business_hours_decide_when_given() {
        let mut s = situation(GreetingTrigger::ConversationStarted, 0, 0, None);
        s.within_business_hours = Some(true);
        assert_eq!(choose_greeting(&s), Some(GreetingKind::Online));
        s.within_business_hours = Some(false);
        s.agents_online = 5;
        assert_eq!(choose_greeting(&s), Some(GreetingKind::Offline));
    }

    fn g(channel: Option<&str>, kind: GreetingKind, lang: Lang, text: &str) -> Greeting {
        Greeting {
            account_id: "acc".into(),
            channel_id: channel.map(str::to_string),
            kind,
            lang,
            text: text.into(),
            enabled: true,
        }
    }

    #[test]
    fn language_fallback_order() {
        let gs = vec![
            g(None, GreetingKind::Online, Lang::en(), "en-all"),
            g(None, GreetingKind::Online, Lang::zh_hans(), "hans-all"),
            g(
                Some("ch1"),
                GreetingKind::Online,
                Lang::zh_hans(),
                "hans-ch1",
            ),
        ];
        let en = Lang::en();
        let pick = |lang: Option<Lang>, ch: &str| {
            pick_greeting(&gs, GreetingKind::Online, ch, lang.as_ref(), &en)
                .map(|g| g.text.as_str())
        };
        // exact language, channel-specific first
        assert_eq!(pick(Some(Lang::zh_hans()), "ch1"), Some("hans-ch1"));
        assert_eq!(pick(Some(Lang::zh_hans()), "ch2"), Some("hans-all"));
        // Traditional falls back to Simplified before the account default
        assert_eq!(pick(Some(Lang::zh_hant()), "ch2"), Some("hans-all"));
        // unknown language and no language: account default
        assert_eq!(pick(Lang::parse("fr"), "ch1"), Some("en-all"));
        assert_eq!(pick(None, "ch1"), Some("en-all"));
    }

    #[test]
    fn disabled_and_missing_greetings() {
        let mut gs = vec![g(None, GreetingKind::Offline, Lang::en(), "off")];
        gs[0].enabled = false;
        assert!(pick_greeting(&gs, GreetingKind::Offline, "c", None, &Lang::en()).is_none());
        // Busy without a busy text falls back to online; other kinds do not fall back.
        let gs = vec![g(None, GreetingKind::Online, Lang::en(), "on")];
        assert_eq!(
            pick_greeting(&gs, GreetingKind::Busy, "c", None, &Lang::en())
                .unwrap()
                .text,
            "on"
        );
        assert!(pick_greeting(&gs, GreetingKind::Offline, "c", None, &Lang::en()).is_none());
    }

    #[test]
    fn lang_parse_folds_channel_spellings() {
        assert_eq!(Lang::parse("zh_CN"), Some(Lang::zh_hans()));
        assert_eq!(Lang::parse("zh-Hans-CN"), Some(Lang::zh_hans()));
        assert_eq!(Lang::parse("zh_TW"), Some(Lang::zh_hant()));
        assert_eq!(Lang::parse("zh-HK"), Some(Lang::zh_hant()));
        assert_eq!(Lang::parse("en_US"), Some(Lang::en()));
        assert_eq!(Lang::parse(""), None);
        assert_eq!(Lang::parse("12"), None);
    }
}
