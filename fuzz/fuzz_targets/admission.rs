//! Grant admission with arbitrary bytes, through the executor's real `Admission::admit`.
//!
//! The first input byte picks how the rest is used:
//! * 0: a whole `ExecuteRequest` (protobuf), admitted as is;
//! * 1: `u16 length ‖ token ‖ invocation`: arbitrary token and invocation bytes with a valid
//!   holder proof over them, so a token that parses gets as far as its checks go;
//! * 2: an `Invocation` (protobuf) run under a real grant with a valid proof and a fresh clock
//!   and nonce, so arbitrary operations reach Datalog and the operation checks.
//!
//! Whatever is admitted must stay inside the fixture grant: no resource a deny rule covers,
//! writes and patches only under `src/`, only the named command.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tool_executor::admission::Admission;
use tool_executor::operations::Operation;
use trust_fuzz::{denied, now, request, Fixture, NOW_MS};
use trust_proto::executor::v1 as pb;

struct State {
    fixture: Fixture,
    admission: Admission,
    grant: Vec<u8>,
    runs: u32,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn check_admitted(operation: &Operation, resources: &[String]) {
    for r in resources {
        assert!(
            !denied(r),
            "admitted a denied resource {r:?} for {operation:?}"
        );
        assert_eq!(
            tool_executor::workspace::normalize_relative(r)
                .as_deref()
                .ok(),
            Some(r.as_str()),
            "admitted a resource that is not in normal form: {r:?}"
        );
    }
    match operation {
        Operation::Write { .. } | Operation::Patch { .. } => {
            for r in resources {
                assert!(
                    r.starts_with("src/"),
                    "admitted a write outside src/: {r:?}"
                );
            }
        }
        Operation::Run { command, .. } => assert_eq!(command.name, "test", "{command:?}"),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    STATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let state = slot.get_or_insert_with(|| {
            let fixture = Fixture::new();
            let admission = fixture.admission();
            State {
                fixture,
                admission,
                grant: trust_fuzz::grant("fuzz-grant"),
                runs: 0,
            }
        });
        // A fresh admission now and then: its replay cache (keyed by proof, never expiring
        // under the fixed clock) would otherwise fill and refuse everything at step 7.
        state.runs += 1;
        if state.runs % 4096 == 0 {
            state.admission = state.fixture.admission();
        }
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let req = match mode % 3 {
            0 => match pb::ExecuteRequest::decode(rest) {
                Ok(r) => r,
                Err(_) => return,
            },
            1 => {
                if rest.len() < 2 {
                    return;
                }
                let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let body = &rest[2..];
                let split = n.min(body.len());
                request(&body[..split], &body[split..])
            }
            _ => {
                let mut invocation = pb::Invocation::decode(rest).unwrap_or_default();
                invocation.timestamp_ms = NOW_MS;
                if invocation.request_id.is_empty() || invocation.request_id.len() > 128 {
                    invocation.request_id = "fuzz".into();
                }
                // A unique nonce keeps the proof (and so the replay key) fresh per input.
                invocation.nonce = state.runs.to_be_bytes().repeat(4);
                request(&state.grant, &invocation.encode_to_vec())
            }
        };
        let call = tool_executor::rpc::execute_call(req);
        if let Ok(admitted) = state.admission.admit(&call, now()) {
            check_admitted(&admitted.operation, &admitted.attempt.resources);
        }
    });
});
