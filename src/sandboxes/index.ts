import { BwrapDriver } from "./bwrap.js";
import { HostDriver } from "./host.js";
import type { SandboxDriver, Tier } from "./types.js";

export * from "./types.js";

/** Drivers by tier. Container tiers (T2–T4) arrive with the OCI driver. */
export class SandboxDrivers {
  private byName = new Map<string, SandboxDriver>();
  constructor(drivers: SandboxDriver[] = [new HostDriver(), new BwrapDriver()]) {
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
