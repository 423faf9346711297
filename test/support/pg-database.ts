// A throwaway Postgres database per test: created through DATABASE_URL's server, dropped after.
import { randomBytes } from 'node:crypto'
import postgres, { type Sql } from 'postgres'

let admin: Sql | undefined

/** Creates `weft_test_<random>` on DATABASE_URL's server; `drop()` removes it (connections and all). */
export async function createDatabase(url = process.env.DATABASE_URL!): Promise<{ url: string; drop(): Promise<void> }> {
  admin ??= postgres(url, { max: 1, onnotice: () => {} })
  const name = `weft_test_${randomBytes(6).toString('hex')}`
  await admin.unsafe(`create database ${name}`)
  const dbUrl = new URL(url)
  dbUrl.pathname = `/${name}`
  return { url: dbUrl.href, drop: async () => void (await admin!.unsafe(`drop database if exists ${name} with (force)`)) }
}

export async function closeAdmin(): Promise<void> {
  await admin?.end()
  admin = undefined
}
