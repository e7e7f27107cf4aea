# One image for the authority, the executor and trustctl (multi-stage; no system protoc needed).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p trust-authority -p tool-executor -p trustctl --bins

FROM debian:bookworm-slim
# The services run as TRUST_UID, which must own the TLS keys deploy/init.sh writes (0600).
ARG TRUST_UID=10001
RUN useradd --system --uid "$TRUST_UID" --home /var/lib/trust trust \
    && mkdir -p /var/lib/trust /var/lib/trust-checkpoint /workspace \
    && chown trust /var/lib/trust /var/lib/trust-checkpoint /workspace && chmod 0700 /var/lib/trust-checkpoint
COPY --from=build /src/target/release/trust-authority /src/target/release/tool-executor /src/target/release/trustctl /usr/local/bin/
USER trust
EXPOSE 7401 7402
