ALTER TABLE "generations" ADD COLUMN "owner_host" text;--> statement-breakpoint
ALTER TABLE "generations" ADD COLUMN "owner_pid" integer;