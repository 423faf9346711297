CREATE TABLE "task_results" (
	"run_id" text NOT NULL,
	"key" text NOT NULL,
	"node" text NOT NULL,
	"print" text NOT NULL,
	"outcome" jsonb NOT NULL,
	CONSTRAINT "task_results_run_id_key_pk" PRIMARY KEY("run_id","key")
);
--> statement-breakpoint
ALTER TABLE "task_results" ADD CONSTRAINT "task_results_run_id_generations_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."generations"("id") ON DELETE cascade ON UPDATE no action;