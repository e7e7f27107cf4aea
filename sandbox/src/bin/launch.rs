//! The sandbox launcher as a stand-alone binary (the crate's tests and bench use it; the
//! executor runs the same code as its hidden `__sandbox-launch` subcommand).

fn main() {
    trust_sandbox::launcher::main_from_args()
}
