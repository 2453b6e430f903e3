//! Who acts: a person with one role of the after-sales organisation.

use serde::{Deserialize, Serialize};

/// The roles of `domain.md`. A role may only do its own steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 现场接收(开通)人员: takes faulty units from customer sites.
    FieldReceiver,
    /// 售后服务部: the single entry point for returned units.
    AfterSales,
    /// 生产处: co-signs repair plans, builds emergency replacements.
    Production,
    /// 维修部门.
    Repair,
    /// 质检部.
    Qc,
    /// 技术服务处: delivers to customers, disposes of unrepairable units.
    TechnicalService,
    /// 开发部.
    Development,
    /// 用户.
    Customer,
    /// 总经理.
    GeneralManager,
    /// 销售部: approves complaint returns up to the policy's weight.
    Sales,
    /// 技术副总: approves heavier complaint returns.
    TechnicalVp,
    /// Reads and replays everything, writes nothing.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 12] = [
        Role::FieldReceiver,
        Role::AfterSales,
        Role::Production,
        Role::Repair,
        Role::Qc,
        Role::TechnicalService,
        Role::Development,
        Role::Customer,
        Role::GeneralManager,
        Role::Sales,
        Role::TechnicalVp,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::FieldReceiver => "field_receiver",
            Role::AfterSales => "after_sales",
            Role::Production => "production",
            Role::Repair => "repair",
            Role::Qc => "qc",
            Role::TechnicalService => "technical_service",
            Role::Development => "development",
            Role::Customer => "customer",
            Role::GeneralManager => "general_manager",
            Role::Sales => "sales",
            Role::TechnicalVp => "technical_vp",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person and the role they act in. Authentication happens outside the domain; the domain
/// only trusts what it is given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    pub person_id: String,
    pub role: Role,
}

impl Actor {
    pub fn new(person_id: impl Into<String>, role: Role) -> Self {
        Actor {
            person_id: person_id.into(),
            role,
        }
    }
}
