CREATE TABLE `task_results` (
	`run_id` text NOT NULL,
	`key` text NOT NULL,
	`node` text NOT NULL,
	`print` text NOT NULL,
	`outcome` text NOT NULL,
	PRIMARY KEY(`run_id`, `key`),
	FOREIGN KEY (`run_id`) REFERENCES `generations`(`id`) ON UPDATE no action ON DELETE cascade
);
