//! A grant's blocks read as data, never evaluated: each block's explicit facts, rules and checks.
//!
//! Reading claims and the delegation chain this way runs none of a block's Datalog, so a block
//! appended by anyone holding a copy of a grant costs only its decoding until the holder proof
//! has passed (and its shape has passed [`crate::datalog_caps`]). The token must already be
//! verified ([`Biscuit`]): this reads what its signatures vouch for.

use biscuit_auth::builder::{self, Convert};
use biscuit_auth::datalog::{self, SymbolTable};
use biscuit_auth::format::{convert, schema};
use biscuit_auth::{Biscuit, PublicKey};
use biscuit_prost::Message;

use crate::error::SdkError;

/// One block as written: its explicit facts, rules and checks, and who signed it.
pub struct BlockContent {
    /// Index of the block in the token (0 is the authority block).
    pub index: usize,
    /// The key of a third-party block's external signature.
    pub external_key: Option<PublicKey>,
    pub facts: Vec<datalog::Fact>,
    pub rules: Vec<datalog::Rule>,
    pub checks: Vec<datalog::Check>,
    /// The symbols this block's indices refer to.
    symbols: SymbolTable,
}

impl BlockContent {
    /// The name of a predicate of this block (`None` for an unknown symbol).
    pub fn name_of(&self, predicate: &datalog::Predicate) -> Option<&str> {
        self.symbols.get_symbol(predicate.name)
    }

    /// The block's explicit facts of the given names and arities, in block order, without
    /// duplicates (as a Datalog query would find them).
    pub fn facts_named(&self, wanted: &[(&str, usize)]) -> Result<Vec<builder::Fact>, SdkError> {
        let mut out: Vec<builder::Fact> = Vec::new();
        for fact in &self.facts {
            let predicate = &fact.predicate;
            let Some(name) = self.name_of(predicate) else {
                continue;
            };
            if !wanted
                .iter()
                .any(|(n, arity)| *n == name && *arity == predicate.terms.len())
            {
                continue;
            }
            let converted = builder::Fact::convert_from(fact, &self.symbols)
                .map_err(|e| SdkError::InvalidGrant(format!("block {} fact: {e}", self.index)))?;
            if !out.contains(&converted) {
                out.push(converted);
            }
        }
        Ok(out)
    }
}

/// Every block of a verified token, decoded but not evaluated.
pub struct Structure {
    blocks: Vec<BlockContent>,
}

impl Structure {
    /// Decodes every block of `token`. Symbols resolve as Biscuit resolves them: a first-party
    /// block shares the authority's table, a third-party block has its own.
    pub fn read(token: &Biscuit) -> Result<Self, SdkError> {
        let bytes = token
            .to_vec()
            .map_err(|e| SdkError::InvalidGrant(format!("cannot serialize: {e}")))?;
        Self::decode(&bytes, &token.external_public_keys())
    }

    fn decode(bytes: &[u8], external: &[Option<PublicKey>]) -> Result<Self, SdkError> {
        let bad = |what: String| SdkError::InvalidGrant(what);
        let container = schema::Biscuit::decode(bytes)
            .map_err(|e| bad(format!("token does not decode: {e}")))?;
        let signed = std::iter::once(&container.authority).chain(container.blocks.iter());
        let mut shared = SymbolTable::new();
        let mut blocks = Vec::with_capacity(container.blocks.len() + 1);
        for (index, signed_block) in signed.enumerate() {
            let external_key = external.get(index).copied().flatten();
            let proto = schema::Block::decode(signed_block.block.as_slice())
                .map_err(|e| bad(format!("block {index} does not decode: {e}")))?;
            let block = convert::proto_block_to_token_block(&proto, external_key)
                .map_err(|e| bad(format!("block {index}: {e}")))?;
            let symbols = if external_key.is_some() {
                let mut own = SymbolTable::new();
                own.extend(&block.symbols)
                    .map_err(|e| bad(format!("block {index} symbols: {e}")))?;
                own
            } else {
                shared
                    .extend(&block.symbols)
                    .map_err(|e| bad(format!("block {index} symbols: {e}")))?;
                shared.clone()
            };
            blocks.push(BlockContent {
                index,
                external_key,
                facts: block.facts,
                rules: block.rules,
                checks: block.checks,
                symbols,
            });
        }
        Ok(Self { blocks })
    }

    /// The authority block, then every appended block in order.
    pub fn blocks(&self) -> &[BlockContent] {
        &self.blocks
    }

    /// The authority block (always present in a decoded token).
    pub fn authority(&self) -> Result<&BlockContent, SdkError> {
        self.blocks
            .first()
            .ok_or_else(|| SdkError::InvalidGrant("token has no authority block".into()))
    }
}
