// The functions validate with zod/mini, not zod classic: their schemas are small, and classic
// zod adds ~430 KiB and ~20 ms of module init to every bundle (README, Benchmarks). Modules
// import `* as z from 'zod/mini'` themselves so the bundler keeps only what they use; this
// module only gives mini its English messages (it ships none), once per container.
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());
