//! Guards shared by the aggregates' `decide` functions: who may act, specific text, order.

use crate::actor::Role;
use crate::error::DomainError;
use crate::unit::Ctx;

/// The actor's role is one of `roles`.
pub fn role_in(ctx: &Ctx, roles: &[Role], action: &'static str) -> Result<(), DomainError> {
    if roles.contains(&ctx.actor.role) {
        Ok(())
    } else {
        Err(DomainError::RoleNotPermitted {
            role: ctx.actor.role,
            action,
        })
    }
}

/// Rule 1's test, for every free text the regulations want specific: not a placeholder.
pub fn specific(ctx: &Ctx, field: &'static str, text: &str) -> Result<(), DomainError> {
    if ctx.policy.is_placeholder(text) {
        Err(DomainError::PlaceholderDescription { field })
    } else {
        Ok(())
    }
}

/// Rule 1's placeholder test, the one every check uses (through `Policy::is_placeholder`). A text
/// is a placeholder when nothing is left of it after folding full-width forms, dropping
/// whitespace, punctuation and dashes (the way Chinese forms fill a blank: "——", "。", "－"), or
/// when what is left is one of the policy's `listed` words ("无", "不详", "n/a"), compared the
/// same way. The form has no attachments, so a bare "见附件" refers to nothing and is listed.
pub fn is_placeholder(text: &str, listed: &[String]) -> bool {
    let core = placeholder_core(text);
    core.is_empty() || listed.iter().any(|p| placeholder_core(p) == core)
}

/// What a text says once width, case, whitespace and punctuation are set aside.
fn placeholder_core(text: &str) -> String {
    text.chars()
        .map(fold_width)
        .filter(|c| !c.is_whitespace() && !is_punctuation(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Full-width ASCII (Ｎ／Ａ) and the ideographic space (U+3000) to their ASCII forms: what NFKC
/// does for them, without a normalisation table in the domain.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// ASCII punctuation, the general punctuation block (dashes ‐‒–—―, quotes, "…", zero-width
/// space), the CJK punctuation (、。〃 brackets 〜 〰, not the ideographic zero 〇), their
/// vertical, small and half-width forms, and the middle dots.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            c,
            '\u{00A1}' | '\u{00B7}' | '\u{00BF}' | '\u{FEFF}' | '\u{30FB}'
                | '\u{2000}'..='\u{206F}'
                | '\u{2E3A}'..='\u{2E3B}'
                | '\u{3001}'..='\u{3003}'
                | '\u{3008}'..='\u{3011}'
                | '\u{3014}'..='\u{301F}'
                | '\u{3030}'
                | '\u{FE10}'..='\u{FE1F}'
                | '\u{FE30}'..='\u{FE6F}'
                | '\u{FF5F}'..='\u{FF65}'
        )
}

pub fn out_of_order(step: &'static str, expected: &'static str) -> DomainError {
    DomainError::StepOutOfOrder { step, expected }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::{Actor, Policy};

    /// Placeholders as forms write them, Chinese forms included.
    const PLACEHOLDERS: &[&str] = &[
        // The words of domain.md rule 1.
        "unknown",
        "UNKNOWN",
        "不详",
        "n/a",
        "-",
        // Runs of dashes of every kind.
        "--",
        "----",
        "—",
        "——",
        "————",
        "–",
        "－",
        "－－",
        "―",
        "‐",
        "⸺",
        " — — ",
        // Full-width punctuation only.
        "。",
        "，",
        "、",
        "？",
        "！",
        "…",
        "……",
        "。。。",
        "？？",
        "、、",
        "·",
        "～",
        // Whitespace, the ideographic space included.
        "",
        " ",
        "\t\n",
        "\u{3000}",
        "\u{3000}\u{3000}",
        "\u{00A0}",
        // Words that say nothing.
        "无",
        "暂无",
        "没有",
        "不清楚",
        "未知",
        "同上",
        "略",
        "不详。",
        "无。",
        "（无）",
        "【略】",
        // An attachment the form cannot carry.
        "见附件",
        "详见附件",
        "详见附件。",
        "见附件！",
        // N/A in any case and width.
        "N/A",
        "n/A",
        "NA",
        "na",
        "N.A.",
        "ＮＡ",
        "ｎ／ａ",
        "Ｎ/Ａ",
        " N/A ",
        "\u{3000}ＮＡ\u{3000}",
        "ＵＮＫＮＯＷＮ",
        "None",
        "TBD",
    ];

    /// Real descriptions, short ones and Chinese ones included.
    const DESCRIPTIONS: &[&str] = &[
        "display flickers after 10 minutes",
        "主轴异响，转速超过800转时振动",
        "无输出",
        "无法开机",
        "通道2无信号",
        "见附件F-12：振动频谱图",
        "略有异响",
        "未知错误代码E07",
        "E07",
        "0",
        "〇号机",
        "ＡＢＳ传感器故障",
        "none of the LEDs light",
    ];

    fn at_specific(text: &str) -> Result<(), DomainError> {
        let policy = Policy::default_policy();
        let actor = Actor::new("fr1", Role::FieldReceiver);
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        specific(&Ctx::new(&actor, at, &policy), "fault_symptoms", text)
    }

    #[test]
    fn every_placeholder_a_form_may_hold_is_refused() {
        for text in PLACEHOLDERS {
            assert_eq!(
                at_specific(text),
                Err(DomainError::PlaceholderDescription {
                    field: "fault_symptoms"
                }),
                "{text:?} should be refused"
            );
        }
    }

    #[test]
    fn real_descriptions_are_accepted_in_any_language() {
        for text in DESCRIPTIONS {
            assert_eq!(at_specific(text), Ok(()), "{text:?} should be accepted");
        }
    }

    #[test]
    fn a_policy_word_is_compared_after_the_same_folding() {
        // The policy may list a word in any width or case: "ＴＢＤ。" lists "tbd".
        let listed = ["ＴＢＤ。".to_string()];
        assert!(is_placeholder("tbd", &listed));
        assert!(!is_placeholder("tbd later", &listed));
    }
}
