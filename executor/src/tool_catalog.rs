//! The business tools and skills this executor knows, as the authority's registry feed last
//! stated them.
//!
//! The feed (see `trust_state`) puts every certified or revoked version here (drafts never
//! leave the authority), in sequence order, and the trust cache rebuilds it at start;
//! `tool.invoke`, `ListTools` and `DescribeTool` read it. Only a `Certified` definition is
//! usable: a revoked tool answers exactly as a tool that does not exist.

use std::collections::BTreeMap;
use std::sync::RwLock;

use trust_sdk::tools::{CatalogChange, Certification, SkillDefinition, ToolDefinition};

/// Latest known version of every tool and skill, by id.
#[derive(Debug, Default)]
pub struct ToolCatalog {
    tools: RwLock<BTreeMap<String, ToolDefinition>>,
    skills: RwLock<BTreeMap<String, SkillDefinition>>,
}

impl ToolCatalog {
    pub fn new() -> ToolCatalog {
        ToolCatalog::default()
    }

    /// Records `tool`, replacing any earlier version of the same id (a feed entry for an
    /// older version than the one held is ignored).
    pub fn put_tool(&self, tool: ToolDefinition) {
        let mut tools = self.tools.write().unwrap_or_else(|e| e.into_inner());
        match tools.get(&tool.id) {
            Some(held) if held.version > tool.version => {}
            _ => {
                tools.insert(tool.id.clone(), tool);
            }
        }
    }

    /// Records a registry change from the feed.
    pub fn apply(&self, change: CatalogChange) {
        match change {
            CatalogChange::Tool(tool) => self.put_tool(tool),
            CatalogChange::Skill(skill) => self.put_skill(skill),
        }
    }

    /// Records `skill`, as [`ToolCatalog::put_tool`] does for tools.
    pub fn put_skill(&self, skill: SkillDefinition) {
        let mut skills = self.skills.write().unwrap_or_else(|e| e.into_inner());
        match skills.get(&skill.id) {
            Some(held) if held.version > skill.version => {}
            _ => {
                skills.insert(skill.id.clone(), skill);
            }
        }
    }

    /// The certified tool `id`, or `None` (unknown, draft and revoked look the same).
    pub fn certified_tool(&self, id: &str) -> Option<ToolDefinition> {
        let tools = self.tools.read().unwrap_or_else(|e| e.into_inner());
        tools
            .get(id)
            .filter(|t| t.state == Certification::Certified)
            .cloned()
    }

    /// The state of the latest version of tool `id` held here; `None` when none is (drafts
    /// never leave the authority, so a draft tool is unknown here too).
    pub fn tool_state(&self, id: &str) -> Option<Certification> {
        let tools = self.tools.read().unwrap_or_else(|e| e.into_inner());
        tools.get(id).map(|t| t.state)
    }

    /// Every certified tool, by id.
    pub fn certified_tools(&self) -> Vec<ToolDefinition> {
        let tools = self.tools.read().unwrap_or_else(|e| e.into_inner());
        tools
            .values()
            .filter(|t| t.state == Certification::Certified)
            .cloned()
            .collect()
    }

    /// The certified skill `id`, or `None`.
    pub fn certified_skill(&self, id: &str) -> Option<SkillDefinition> {
        let skills = self.skills.read().unwrap_or_else(|e| e.into_inner());
        skills
            .get(id)
            .filter(|s| s.state == Certification::Certified)
            .cloned()
    }
}
