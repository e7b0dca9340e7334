metadata description = 'Azure Communication Services Email: the Email Service with an Azure-managed domain, linked to a Communication Service the app sends through with its managed identity.'

@description('Required. Communication Service name.')
param communicationServiceName string
@description('Required. Email Communication Service name.')
param emailServiceName string
@description('Optional. Where the services keep their data at rest (a geography, not a region).')
@allowed([
  'Africa'
  'Asia Pacific'
  'Australia'
  'Brazil'
  'Canada'
  'Europe'
  'France'
  'Germany'
  'India'
  'Japan'
  'Korea'
  'Norway'
  'Switzerland'
  'UAE'
  'UK'
  'United States'
])
param dataLocation string = 'Europe'
@description('Optional. Tags.')
param tags object = {}

// Both services are global resources; dataLocation decides where data rests.
resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

// An Azure-managed domain (<guid>.azurecomm.net) needs no DNS work and sends at once; a
// partner's own domain replaces it later (a CustomerManaged domain verified in DNS).
resource domain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    // Notices carry one-action links: no click tracking rewriting them.
    userEngagementTracking: 'Disabled'
  }
}

resource communication 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: communicationServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: [domain.id]
  }
}

@description('Communication Service name (the scope of the app identity\'s send role).')
output name string = communication.name
@description('The endpoint the app sends through (CSPFLOW_ACS_ENDPOINT).')
output endpoint string = 'https://${communication.properties.hostName}'
@description('The sender address of the Azure-managed domain (CSPFLOW_MAIL_FROM).')
output senderAddress string = 'DoNotReply@${domain.properties.mailFromSenderDomain}'
