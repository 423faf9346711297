ALTER TABLE "generations" ADD COLUMN "session_id" text;--> statement-breakpoint
CREATE INDEX "generations_session_idx" ON "generations" USING btree ("session_id","created_at");