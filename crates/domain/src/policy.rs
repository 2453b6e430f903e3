//! The versioned policy: every number the regulations leave to the company. Never a constant in code.

use serde::{Deserialize, Serialize};

/// A policy version. Its `version` is recorded in every event decided under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub version: u32,
    pub returns: ReturnsPolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnsPolicy {
    /// Rule 3: carried-back units reach after-sales within this many working days.
    pub carry_back_working_days: u32,
    /// Rule 13: the whole in-factory cycle, in calendar days.
    pub repair_cycle_days: u32,
    /// Rule 11: a unit produced at most this many days before it is scrapped is "young" and goes
    /// to the development dept. The seeds give no number; 365 is our documented default.
    pub young_unit_days: u32,
    /// Rule 14: days to retrieve the faulty unit after a spare replaced it on site (chosen default).
    pub spare_retrieval_days: u32,
    /// Rule 10: in-warranty repairs after which a further failure means scrap and exchange.
    pub two_strikes_repairs: u32,
    /// Rule 11: no-fault-found returns after which the unit is no longer returned.
    pub two_strikes_no_fault: u32,
    /// Rule 11: the least fee (minor units) when the customer insists on the unit back.
    pub no_fault_return_fee_min_minor: i64,
    /// Rule 1: descriptions that say nothing, compared case-insensitively after trimming.
    pub placeholders: Vec<String>,
    /// Rule 12: which spares may return to stock (退库).
    pub return_to_stock: ReturnToStockPolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnToStockPolicy {
    /// Recent production: at most this many days old.
    pub max_age_days: u32,
    /// High value: at least this much, in minor units.
    pub min_value_minor: i64,
    /// Low use: used on site at most this many times.
    pub max_field_uses: u32,
}

/// Why a policy document was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PolicyError {
    #[error("policy does not parse: {0}")]
    Parse(String),
    #[error("policy is invalid: {0}")]
    Invalid(String),
}

impl Policy {
    /// The documented defaults, shipped as `fixtures/policy.toml` too.
    pub const DEFAULT_TOML: &'static str = include_str!("default_policy.toml");

    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let p: Policy = toml::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    pub fn default_policy() -> Policy {
        Policy::parse(Self::DEFAULT_TOML).expect("the shipped default policy is valid")
    }

    fn validate(&self) -> Result<(), PolicyError> {
        let r = &self.returns;
        let checks = [
            (self.version >= 1, "version must be at least 1"),
            (
                r.carry_back_working_days >= 1,
                "carry_back_working_days must be at least 1",
            ),
            (
                r.repair_cycle_days >= 1,
                "repair_cycle_days must be at least 1",
            ),
            (
                r.spare_retrieval_days >= 1,
                "spare_retrieval_days must be at least 1",
            ),
            (
                r.two_strikes_repairs >= 1,
                "two_strikes_repairs must be at least 1",
            ),
            (
                r.two_strikes_no_fault >= 1,
                "two_strikes_no_fault must be at least 1",
            ),
            (
                r.no_fault_return_fee_min_minor >= 0,
                "no_fault_return_fee_min_minor must not be negative",
            ),
            (
                r.return_to_stock.min_value_minor >= 0,
                "return_to_stock.min_value_minor must not be negative",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, msg)) => Err(PolicyError::Invalid((*msg).to_string())),
            None => Ok(()),
        }
    }

    /// Rule 1: is this description a placeholder that says nothing?
    pub fn is_placeholder(&self, text: &str) -> bool {
        let t = text.trim().to_lowercase();
        t.is_empty()
            || self
                .returns
                .placeholders
                .iter()
                .any(|p| p.to_lowercase() == t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_parses_and_validates() {
        let p = Policy::default_policy();
        assert_eq!(p.returns.carry_back_working_days, 2);
        assert_eq!(p.returns.repair_cycle_days, 14);
    }

    #[test]
    fn it_should_refuse_an_unknown_field() {
        let text = Policy::DEFAULT_TOML.replace("version = 1", "version = 1\nsurprise = 3");
        assert!(matches!(Policy::parse(&text), Err(PolicyError::Parse(_))));
    }

    #[test]
    fn it_should_refuse_a_zero_repair_cycle() {
        let text = Policy::DEFAULT_TOML.replace("repair_cycle_days = 14", "repair_cycle_days = 0");
        assert!(matches!(Policy::parse(&text), Err(PolicyError::Invalid(_))));
    }

    #[test]
    fn placeholders_are_recognised_whatever_the_case_and_spacing() {
        let p = Policy::default_policy();
        for t in ["unknown", " Unknown ", "不详", "N/A", "-", ""] {
            assert!(p.is_placeholder(t), "{t:?} should be a placeholder");
        }
        assert!(!p.is_placeholder("display flickers after 10 minutes"));
    }
}
