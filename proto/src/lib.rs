//! Generated protobuf and gRPC code for Trust Authority, plus the descriptor set for reflection.
//!
//! Domain crates convert to and from these types at their service edge; nothing else
//! derives prost.

#![expect(clippy::all, clippy::pedantic, reason = "generated code")]

/// Encoded `FileDescriptorSet` of every proto file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/trust_descriptor.bin"));

pub mod common {
    pub mod v1 {
        tonic::include_proto!("trust.common.v1");
    }
}

pub mod authority {
    pub mod v1 {
        tonic::include_proto!("trust.authority.v1");
    }
}

pub mod executor {
    pub mod v1 {
        tonic::include_proto!("trust.executor.v1");
    }
}
