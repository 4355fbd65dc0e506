import { defineConfig } from 'vitest/config'

/** The vitest configuration every package shares: sources resolve through the `concord-source` condition. */
export const sharedConfig = defineConfig({
  resolve: { conditions: ['concord-source'] },
  ssr: { resolve: { conditions: ['concord-source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
})
