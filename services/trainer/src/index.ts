export { startTrainerService, JobScheduler, toProtoJob, type TrainerServiceOptions } from './service';
