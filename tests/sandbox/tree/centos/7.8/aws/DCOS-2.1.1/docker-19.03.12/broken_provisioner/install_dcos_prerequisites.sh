#!/bin/sh
echo "sandbox: docker-ce-19.03.12 is not available from the configured repositories" >&2
exit 1
