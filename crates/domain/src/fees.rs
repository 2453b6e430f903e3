//! Quotes for field service out of warranty (domain.md §2), from the policy's rate tables.
//! Money is integer minor units; percentages are basis points, rounded half up once per line.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::policy::{DayRates, FeesPolicy};
use crate::service::{ProductCategory, RequestKind};

/// A part on a quote, at the price finance gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QuotePart {
    pub part_no: String,
    pub quantity: u32,
    pub unit_price_minor: i64,
}

/// What the service dept estimates; the quote prices it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QuoteInput {
    /// Tickets and transport, charged at cost.
    pub travel_cost_minor: i64,
    /// Engineers who travel.
    pub engineers: u32,
    /// Days away (per engineer: lodging, meals, allowance).
    pub days: u32,
    pub parts: Vec<QuotePart>,
    /// Labour and other costs of the work itself.
    pub work_cost_minor: i64,
    /// Competitors' products: the margin asked, at least the policy's minimum.
    pub margin_bp: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QuoteLineKind {
    Travel,
    Lodging,
    Meals,
    Allowance,
    Parts,
    PartnerPartsMarkup,
    PartnerHandlingFee,
    Work,
    CompetitorMargin,
    EngineeringMarkup,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuoteLine {
    pub kind: QuoteLineKind,
    pub description: String,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quote {
    pub lines: Vec<QuoteLine>,
    pub total_minor: i64,
}

/// `amount × bp / 10 000`, rounded half up (amounts are never negative here).
pub fn apply_bp(amount: i64, bp: i64) -> i64 {
    (i128::from(amount) * i128::from(bp) + 5_000).div_euclid(10_000) as i64
}

fn rates(f: &FeesPolicy, c: ProductCategory) -> &DayRates {
    match c {
        ProductCategory::Own => &f.per_day.own,
        ProductCategory::OwnViaAgent => &f.per_day.own_via_agent,
        ProductCategory::Partner => &f.per_day.partner,
        ProductCategory::Competitor => &f.per_day.competitor,
    }
}

fn too_big() -> DomainError {
    DomainError::InvalidInput {
        field: "quote",
        reason: "amounts overflow".into(),
    }
}

/// Prices a quote: travel at cost; lodging, meals and allowance per engineer-day by category;
/// parts at price (partner parts +markup and a handling fee); the work at cost; then the
/// competitor margin or the engineering markup on the whole cost.
pub fn quote(
    f: &FeesPolicy,
    category: ProductCategory,
    kind: RequestKind,
    q: &QuoteInput,
) -> Result<Quote, DomainError> {
    let negative = q.travel_cost_minor < 0
        || q.work_cost_minor < 0
        || q.parts.iter().any(|p| p.unit_price_minor < 0);
    if negative {
        return Err(DomainError::InvalidInput {
            field: "quote",
            reason: "amounts must not be negative".into(),
        });
    }
    let person_days = i64::from(q.engineers) * i64::from(q.days);
    let r = rates(f, category);
    let mut lines = vec![QuoteLine {
        kind: QuoteLineKind::Travel,
        description: "travel at cost".into(),
        amount_minor: q.travel_cost_minor,
    }];
    for (kind, rate, name) in [
        (QuoteLineKind::Lodging, r.lodging_minor, "lodging"),
        (QuoteLineKind::Meals, r.meals_minor, "meals"),
        (QuoteLineKind::Allowance, r.allowance_minor, "allowance"),
    ] {
        if person_days > 0 {
            lines.push(QuoteLine {
                kind,
                description: format!(
                    "{name}: {} engineer(s) x {} day(s) x {rate}",
                    q.engineers, q.days
                ),
                amount_minor: rate.checked_mul(person_days).ok_or_else(too_big)?,
            });
        }
    }
    let mut parts_total: i64 = 0;
    for p in &q.parts {
        let amount = p
            .unit_price_minor
            .checked_mul(i64::from(p.quantity))
            .ok_or_else(too_big)?;
        parts_total = parts_total.checked_add(amount).ok_or_else(too_big)?;
        lines.push(QuoteLine {
            kind: QuoteLineKind::Parts,
            description: format!("{} x {} at {}", p.part_no, p.quantity, p.unit_price_minor),
            amount_minor: amount,
        });
    }
    if category == ProductCategory::Partner && parts_total > 0 {
        lines.push(QuoteLine {
            kind: QuoteLineKind::PartnerPartsMarkup,
            description: format!("partner parts +{} bp", f.partner_parts_markup_bp),
            amount_minor: apply_bp(parts_total, f.partner_parts_markup_bp),
        });
        lines.push(QuoteLine {
            kind: QuoteLineKind::PartnerHandlingFee,
            description: format!("handling fee {} bp", f.partner_parts_handling_fee_bp),
            amount_minor: apply_bp(parts_total, f.partner_parts_handling_fee_bp),
        });
    }
    if q.work_cost_minor > 0 {
        lines.push(QuoteLine {
            kind: QuoteLineKind::Work,
            description: "work at cost".into(),
            amount_minor: q.work_cost_minor,
        });
    }
    let cost = lines
        .iter()
        .try_fold(0i64, |a, l| a.checked_add(l.amount_minor))
        .ok_or_else(too_big)?;
    if category == ProductCategory::Competitor {
        let margin = q.margin_bp.unwrap_or(f.competitor_min_margin_bp);
        if margin < f.competitor_min_margin_bp {
            return Err(DomainError::MarginBelowMinimum {
                margin_bp: margin,
                min_bp: f.competitor_min_margin_bp,
            });
        }
        lines.push(QuoteLine {
            kind: QuoteLineKind::CompetitorMargin,
            description: format!("margin {margin} bp on cost"),
            amount_minor: apply_bp(cost, margin),
        });
    } else if kind == RequestKind::EngineeringProject {
        lines.push(QuoteLine {
            kind: QuoteLineKind::EngineeringMarkup,
            description: format!("engineering: cost + {} bp", f.engineering_markup_bp),
            amount_minor: apply_bp(cost, f.engineering_markup_bp),
        });
    } else if q.margin_bp.is_some() {
        return Err(DomainError::InvalidInput {
            field: "margin_bp",
            reason: "a margin is set only for competitors' products".into(),
        });
    }
    let total_minor = lines
        .iter()
        .try_fold(0i64, |a, l| a.checked_add(l.amount_minor))
        .ok_or_else(too_big)?;
    Ok(Quote { lines, total_minor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    fn input() -> QuoteInput {
        QuoteInput {
            travel_cost_minor: 80_000,
            engineers: 2,
            days: 3,
            parts: vec![QuotePart {
                part_no: "CYL-100".into(),
                quantity: 1,
                unit_price_minor: 120_000,
            }],
            work_cost_minor: 0,
            margin_bp: None,
        }
    }

    #[test]
    fn own_products_use_the_own_day_rates_and_parts_at_price() {
        let f = Policy::default_policy().fees;
        let q = quote(&f, ProductCategory::Own, RequestKind::Repair, &input()).unwrap();
        // travel 800 + 6 person-days x (150 + 50 + 200) + part 1200 = 4400 yuan.
        assert_eq!(q.total_minor, 80_000 + 6 * 40_000 + 120_000);
    }

    #[test]
    fn partner_products_use_partner_rates_and_mark_parts_up_with_a_handling_fee() {
        let f = Policy::default_policy().fees;
        let q = quote(&f, ProductCategory::Partner, RequestKind::Repair, &input()).unwrap();
        // 6 x (200 + 100 + 300) = 3600; part 1200 + 10 % + 10 % = 1440.
        assert_eq!(
            q.total_minor,
            80_000 + 6 * 60_000 + 120_000 + 12_000 + 12_000
        );
        assert!(q
            .lines
            .iter()
            .any(|l| l.kind == QuoteLineKind::PartnerHandlingFee));
    }

    #[test]
    fn competitors_work_carries_at_least_the_minimum_margin() {
        let f = Policy::default_policy().fees;
        let cost = 80_000 + 6 * 40_000 + 120_000;
        let q = quote(
            &f,
            ProductCategory::Competitor,
            RequestKind::Repair,
            &input(),
        )
        .unwrap();
        assert_eq!(q.total_minor, cost + cost / 5);
        let low = QuoteInput {
            margin_bp: Some(1500),
            ..input()
        };
        assert_eq!(
            quote(&f, ProductCategory::Competitor, RequestKind::Repair, &low)
                .unwrap_err()
                .code(),
            "margin-below-minimum"
        );
        let high = QuoteInput {
            margin_bp: Some(3000),
            ..input()
        };
        assert_eq!(
            quote(&f, ProductCategory::Competitor, RequestKind::Repair, &high)
                .unwrap()
                .total_minor,
            cost + apply_bp(cost, 3000)
        );
    }

    #[test]
    fn engineering_projects_are_charged_cost_plus_ten_percent() {
        let f = Policy::default_policy().fees;
        let q = quote(
            &f,
            ProductCategory::Own,
            RequestKind::EngineeringProject,
            &input(),
        )
        .unwrap();
        let cost = 80_000 + 6 * 40_000 + 120_000;
        assert_eq!(q.total_minor, cost + cost / 10);
    }

    #[test]
    fn rounding_is_half_up_in_integers() {
        assert_eq!(apply_bp(5, 1000), 1); // 0.5 → 1
        assert_eq!(apply_bp(4, 1000), 0); // 0.4 → 0
        assert_eq!(
            apply_bp(i64::MAX / 2, 2000),
            (i128::from(i64::MAX / 2) * 2000 / 10_000) as i64 + 1
        );
    }

    #[test]
    fn negative_amounts_and_misplaced_margins_are_refused() {
        let f = Policy::default_policy().fees;
        let neg = QuoteInput {
            travel_cost_minor: -1,
            ..input()
        };
        assert!(quote(&f, ProductCategory::Own, RequestKind::Repair, &neg).is_err());
        let margin = QuoteInput {
            margin_bp: Some(2500),
            ..input()
        };
        assert!(quote(&f, ProductCategory::Own, RequestKind::Repair, &margin).is_err());
    }
}
