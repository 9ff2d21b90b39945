# jitbot in a container: built on Debian 12, run as a non-root user on Debian 12 slim.
#   docker build -t jitbot .
#   docker run --env-file jitbot.env -v jitbot-data:/var/lib/jitbot \
#     -v "$PWD/jitbot.toml:/etc/jitbot/jitbot.toml:ro" jitbot
# The config must say database = "/var/lib/jitbot/jitbot.db" and listen = "0.0.0.0:9090".

FROM debian:12-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config nlohmann-json3-dev libsqlitecpp-dev libsqlite3-dev libfmt-dev \
      libspdlog-dev libcli11-dev libtomlplusplus-dev libboost1.81-dev libssl-dev libyaml-cpp-dev libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt LICENSE NOTICE README.md ./
COPY workflows workflows
COPY storage storage
COPY config config
COPY adapters adapters
COPY bot bot
COPY docs docs
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DCMAKE_INSTALL_PREFIX=/usr/local \
 && cmake --build /build -j"$(nproc)" --target jitbot \
 && DESTDIR=/out cmake --install /build

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl libsqlite3-0 libssl3 libfmt9 libspdlog1.10 libtomlplusplus3 libyaml-cpp0.7 libpq5 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/jitbot --shell /usr/sbin/nologin jitbot \
 && mkdir -p /var/lib/jitbot /etc/jitbot && chown jitbot: /var/lib/jitbot && chmod 0700 /var/lib/jitbot
COPY --from=build /out/usr/local/bin/jitbot /usr/local/bin/jitbot
COPY --from=build /out/usr/local/share /usr/local/share
USER 10001:10001
VOLUME /var/lib/jitbot
EXPOSE 9090
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:9090/readyz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/jitbot"]
CMD ["run", "--config", "/etc/jitbot/jitbot.toml", "--log-format", "json"]
