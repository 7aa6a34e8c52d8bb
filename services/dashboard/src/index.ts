export { startDashboard, type DashboardEndpoints, type DashboardOptions, type RunningDashboard } from './server';
