# The Powerstrip image: a static binary on scratch.
#   docker build -t powerstrip .
#   docker run -d --name powerstrip \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     -v $PWD/adapters.yml:/etc/powerstrip/adapters.yml:ro \
#     -p 127.0.0.1:2375:2375 powerstrip
# Where no base image can be pulled, scripts/image.sh builds the same final
# stage from a binary built here (Dockerfile.local).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /powerstrip ./cmd/powerstrip

FROM scratch
COPY --from=build /powerstrip /powerstrip
# The original's defaults: the config at /etc/powerstrip/adapters.yml, the
# daemon's socket at /var/run/docker.sock (both the binary's defaults), and
# the API on port 2375 of the container.
EXPOSE 2375
ENTRYPOINT ["/powerstrip"]
# With no config mounted at /etc/powerstrip/adapters.yml the container
# exits 1 and says so: a policy proxy must not serve without its policy.
# A proxy with no hooks is asked for: docker run ... powerstrip -config none
# -listen tcp://0.0.0.0:2375.
CMD ["-listen", "tcp://0.0.0.0:2375"]
