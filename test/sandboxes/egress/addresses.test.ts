import { describe, expect, it } from "vitest";
import { classifyAddress } from "../../../src/sandboxes/egress/addresses.js";

describe("classifyAddress", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.0.3", "loopback"],
    ["::1", "loopback"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["fc00::1", "private"],
    ["fd12:3456::1", "private"],
    ["169.254.1.1", "cloud metadata"],
    ["169.254.170.2", "cloud metadata"],
    ["169.254.169.123", "cloud metadata"],
    ["::ffff:169.254.170.2", "cloud metadata"],
    ["::ffff:a9fe:aa02", "cloud metadata"],
    ["64:ff9b::169.254.170.2", "cloud metadata"],
    ["2002:a9fe:aa02::1", "cloud metadata"],
    ["fd00:ec2::23", "cloud metadata"],
    ["fd00:ec2:0:0:0:0:0:23", "cloud metadata"],
    ["FD00:EC2::253", "cloud metadata"],
    ["fd20:ce::254", "cloud metadata"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["100.64.0.1", "shared (CGNAT)"],
    ["100.127.255.255", "shared (CGNAT)"],
    ["169.254.169.254", "cloud metadata"],
    ["fd00:ec2::254", "cloud metadata"],
    ["::ffff:169.254.169.254", "cloud metadata"],
    ["::ffff:a9fe:a9fe", "cloud metadata"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:127.0.0.1", "loopback"],
    ["64:ff9b::10.0.0.1", "private"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "reserved"],
  ])("%s is %s", (a, kind) => {
    expect(classifyAddress(a)).toBe(kind);
  });

  it.each(["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"])("%s is public", (a) => {
    expect(classifyAddress(a)).toBeUndefined();
  });

  it("throws for a non-address", () => {
    expect(() => classifyAddress("example.com")).toThrow(/not an IP address/);
  });
});
