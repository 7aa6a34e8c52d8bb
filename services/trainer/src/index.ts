export { startTrainerService, JobScheduler, toProtoJob, type TrainerServiceOptions } from './service';
export { fromProto as trainConfigFromProto, toProto as trainConfigToProto } from './config';
