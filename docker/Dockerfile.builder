# The SilverMetal builder as a container image, for those who prefer building it themselves.
#
# Its only base is the builder rootfs tarball, pinned by content: the file that
# `isoforge builder build` writes to <cache>/builders/<digest>.tar, whose sha256 is the digest
# config/builder.env pins. There is no registry base image to drift (FROM scratch), and
# nothing is installed here: the packages are the locked ones (config/builder.lock).
#
#   digest=$(sed -n 's/^BUILDER_IMAGE=.*@sha256://p' config/builder.env)
#   cp ~/.cache/isoforge/builders/$digest.tar docker/builder.tar
#   echo "$digest  docker/builder.tar" | sha256sum -c -        # refuse anything else
#   docker build -f docker/Dockerfile.builder -t silvermetal-builder:sha256-$digest docker/
#
# `isoforge build --runtime docker` does the same with `docker import` and runs the build in it
# (see README, "Runtimes").
FROM scratch
ADD builder.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LC_ALL=C.UTF-8 \
    TZ=UTC
WORKDIR /src
ENTRYPOINT ["/usr/local/bin/isoforge"]
