#!/bin/sh
echo "sandbox: slow provisioner started"
sleep 300
