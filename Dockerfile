# Multi-stage build: compile in the Rust image, run in a small Debian image
# as an unprivileged user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tessera

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/tessera --create-home tessera
COPY --from=build /src/target/release/tessera /usr/local/bin/tessera
USER tessera
WORKDIR /var/lib/tessera
ENV TESSERA_BIND=0.0.0.0:8080 \
    TESSERA_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tessera"]
CMD ["serve"]
