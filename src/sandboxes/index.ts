import { BwrapDriver } from "./bwrap.js";
import { HostDriver } from "./host.js";
import { OciDriver } from "./oci.js";
import type { SandboxDriver, Tier } from "./types.js";

export * from "./types.js";

/** Drivers by tier: host (T0), bwrap (T1), oci (T2–T4, Docker Engine API). */
export class SandboxDrivers {
  private byName = new Map<string, SandboxDriver>();
  constructor(drivers: SandboxDriver[] = [new HostDriver(), new BwrapDriver(), new OciDriver()]) {
    for (const d of drivers) this.byName.set(d.name, d);
  }
  forTier(tier: Tier): SandboxDriver | undefined {
    for (const d of this.byName.values()) if (d.tiers.includes(tier)) return d;
    return undefined;
  }
  byDriverName(name: string): SandboxDriver | undefined {
    return this.byName.get(name);
  }
}
