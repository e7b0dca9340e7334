metadata description = 'Log Analytics and Application Insights with local (key) auth disabled.'

@description('Required. Log Analytics workspace name.')
param logAnalyticsName string
@description('Required. Application Insights name.')
param appInsightsName string
@description('Required. Region.')
param location string
@description('Optional. Tags.')
param tags object = {}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Telemetry must be sent with the app's Entra identity, not the ingestion key alone.
    DisableLocalAuth: true
  }
}

@description('Application Insights name.')
output appInsightsName string = appInsights.name
@description('Application Insights connection string.')
output connectionString string = appInsights.properties.ConnectionString
