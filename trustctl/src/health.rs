//! `trustctl health`: asks a server's `grpc.health.v1` service (used by container health checks).

use std::process::ExitCode;

use clap::Args;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

#[derive(Args, Debug)]
pub struct HealthArgs {
    /// Server endpoint, such as http://127.0.0.1:7401.
    #[arg(long)]
    endpoint: String,
    #[command(flatten)]
    pub tls: crate::transport::TransportArgs,
    /// Fully qualified service name; empty asks about the server as a whole.
    #[arg(long, default_value = "")]
    service: String,
}

/// Exits 0 when the service reports SERVING, 1 otherwise.
pub async fn run(args: &HealthArgs) -> anyhow::Result<ExitCode> {
    let channel = args
        .tls
        .transport()?
        .endpoint(&args.endpoint)?
        .connect_timeout(std::time::Duration::from_secs(2))
        .connect()
        .await?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: args.service.clone(),
        })
        .await?
        .into_inner();
    let status = response.status();
    println!("{}", status.as_str_name());
    Ok(if status == ServingStatus::Serving {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
