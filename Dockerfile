# Build a static, CGO-free binary (modernc.org/sqlite is pure Go).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/secondchance ./cmd/secondchance \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/secondchance /usr/local/bin/secondchance
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV SECONDCHANCE_DATA_DIR=/data \
    SECONDCHANCE_LISTEN=:8080 \
    SECONDCHANCE_DEMO_DATA=false
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/secondchance", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/secondchance"]
CMD ["serve"]
